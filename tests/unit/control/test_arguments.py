from __future__ import annotations

from datetime import UTC, datetime

import pytest
from celery.utils.saferepr import saferepr
from tasktrail_control.arguments import (
    CommandError,
    destination,
    original_arguments,
    parse_eta,
    validate,
)
from tasktrail_shared.commands import RevokeArgs


def test_arguments_are_checked_with_the_contract_model() -> None:
    args = validate("revoke", {"ids": ["a", "b"], "terminate": True})
    assert isinstance(args, RevokeArgs) and args.ids == ["a", "b"] and args.signal is None


@pytest.mark.parametrize(
    ("command", "raw", "field"),
    [
        ("revoke", {"ids": "t1"}, "'ids'"),
        ("revoke", {"ids": []}, "'ids'"),
        ("revoke", {"ids": ["t1"], "force": True}, "'force'"),
        ("shutdown", {}, "'names'"),
        ("pool_grow", {"n": 0}, "'n'"),
        ("rate_limit", {"task_name": "demo.add"}, "'rate'"),
        ("purge", {"queue": ""}, "'queue'"),
        ("retry", {"id": "x", "name": "demo.add"}, "'args'"),
    ],
)
def test_a_bad_argument_is_named_in_the_error(
    command: str, raw: dict[str, object], field: str
) -> None:
    with pytest.raises(CommandError, match=f"invalid arguments for {command}: .*{field}"):
        validate(command, raw)


def test_an_empty_worker_list_is_refused_rather_than_meaning_every_worker() -> None:
    assert destination(None) is None
    assert destination(["w1@h"]) == ["w1@h"]
    with pytest.raises(CommandError, match="'names'"):
        destination([])


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ("('boom',)", "{}", (["boom"], {})),
        ("[2, 3]", None, ([2, 3], {})),
        ("()", "{'x': 1, 'y': [1, 2]}", ([], {"x": 1, "y": [1, 2]})),
        (saferepr((1, "a", None, {"k": 1.5})), saferepr({}), ([1, "a", None, {"k": 1.5}], {})),
    ],
)
def test_original_arguments_come_back_from_celerys_reprs(
    args: str, kwargs: str | None, expected: tuple[list[object], dict[str, object]]
) -> None:
    assert original_arguments(args, kwargs) == expected


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        (saferepr(("x" * 2000,), 1024), "{}"),  # Celery cut it
        ("('a',)", saferepr({"k": list(range(1000))}, 1024)),
        ("(datetime.datetime(2024, 1, 1, 0, 0),)", "{}"),  # an object's repr
        ("(1, 2", "{}"),
        ("42", "{}"),
        ("()", "[1]"),
        (None, "{}"),
    ],
)
def test_arguments_not_captured_in_full_are_refused(args: str | None, kwargs: str) -> None:
    with pytest.raises(CommandError, match="arguments were not captured in full"):
        original_arguments(args, kwargs)


def test_eta_is_an_aware_datetime() -> None:
    assert parse_eta(None, None) is None
    assert parse_eta("2030-01-02T03:04:05Z", None) == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_eta("2030-01-02T03:04:05", None) == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    with pytest.raises(CommandError, match=r"'eta'.*ISO 8601"):
        parse_eta("tomorrow", None)
    with pytest.raises(CommandError, match="not both"):
        parse_eta("2030-01-02T03:04:05Z", 10)
