from __future__ import annotations

import hashlib

import pytest
from tasktrail_api import auth
from tasktrail_api.errors import ApiError


@pytest.mark.parametrize(
    "header", ["Bearer abc", "bearer abc", "Token abc", "TOKEN  abc ", "  Bearer abc"]
)
def test_bearer_and_token_schemes(header: str) -> None:
    assert auth.parse_authorization(header) == "abc"


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer ", "abc", "Bearer a b"])
def test_a_malformed_header_is_a_401(header: str) -> None:
    with pytest.raises(ApiError) as info:
        auth.parse_authorization(header)
    assert info.value.status_code == 401
    assert info.value.headers == {"WWW-Authenticate": "Bearer"}


def test_the_header_wins_over_the_query_parameter() -> None:
    assert auth.credentials("Bearer h", "q") == "h"
    assert auth.credentials(None, "q") == "q"
    assert auth.credentials("", "") is None
    assert auth.credentials(None, None) is None


def test_roles_are_ordered() -> None:
    assert auth.Role.viewer < auth.Role.operator < auth.Role.admin


def test_a_stored_token_gives_its_name_and_role() -> None:
    digest = hashlib.sha256(b"t").hexdigest()
    assert auth.token_digest("t") == digest
    record = {"_id": digest, "name": "ci", "role": "operator"}
    assert auth.principal_from_record(record, digest) == auth.Principal("ci", auth.Role.operator)


@pytest.mark.parametrize(
    "record",
    [
        None,
        {"_id": "other", "name": "x", "role": "admin"},
        {"_id": "D", "name": "x", "role": "root"},
    ],
)
def test_unknown_or_mismatched_records_give_nobody(record: dict[str, str] | None) -> None:
    assert auth.principal_from_record(record, "D") is None


def test_the_admin_token_only_when_configured() -> None:
    assert auth.is_admin_token("s3cret", "s3cret")
    assert not auth.is_admin_token("s3cret", "other")
    assert not auth.is_admin_token("", None)
