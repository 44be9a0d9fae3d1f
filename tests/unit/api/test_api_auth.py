from __future__ import annotations

import hashlib

import pytest
from tasktrail_api import auth
from tasktrail_api.domain import principals
from tasktrail_api.domain.errors import Unauthorized
from tasktrail_api.envelope import CHALLENGE, STATUS, status_of


@pytest.mark.parametrize(
    "header", ["Bearer abc", "bearer abc", "Token abc", "TOKEN  abc ", "  Bearer abc"]
)
def test_bearer_and_token_schemes(header: str) -> None:
    assert auth.parse_authorization(header) == "abc"


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer ", "abc", "Bearer a b"])
def test_a_malformed_header_is_a_401(header: str) -> None:
    with pytest.raises(Unauthorized) as info:
        auth.parse_authorization(header)
    assert status_of(info.value) == 401
    assert CHALLENGE == {"WWW-Authenticate": "Bearer"}
    assert STATUS[Unauthorized] == 401


def test_the_header_wins_over_the_query_parameter() -> None:
    assert auth.credentials("Bearer h", "q") == "h"
    assert auth.credentials(None, "q") == "q"
    assert auth.credentials("", "") is None
    assert auth.credentials(None, None) is None


def test_roles_are_ordered() -> None:
    assert principals.Role.viewer < principals.Role.operator < principals.Role.admin


def test_a_stored_token_gives_its_name_and_role() -> None:
    digest = hashlib.sha256(b"t").hexdigest()
    assert principals.token_digest("t") == digest
    stored = {"_id": digest, "name": "ci", "role": "operator"}
    assert principals.principal_from_token(stored, digest) == principals.Principal(
        "ci", principals.Role.operator
    )


@pytest.mark.parametrize(
    "stored",
    [
        None,
        {"_id": "other", "name": "x", "role": "admin"},
        {"_id": "D", "name": "x", "role": "root"},
    ],
)
def test_unknown_or_mismatched_tokens_give_nobody(stored: dict[str, str] | None) -> None:
    assert principals.principal_from_token(stored, "D") is None


def test_the_admin_token_only_when_configured() -> None:
    assert principals.is_admin_token("s3cret", "s3cret")
    assert not principals.is_admin_token("s3cret", "other")
    assert not principals.is_admin_token("", None)
