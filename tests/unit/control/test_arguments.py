"""Control checks arguments with the shared contract's models only, and says what is wrong."""

from __future__ import annotations

import pytest
from tasktrail_control.arguments import CommandError, validate
from tasktrail_shared.commands import RetryArgs, RevokeArgs, RunArgs


def test_arguments_are_checked_with_the_contract_model() -> None:
    args = validate("revoke", {"ids": ["a", "b"], "terminate": True})
    assert isinstance(args, RevokeArgs) and args.ids == ["a", "b"] and args.signal == "SIGTERM"


@pytest.mark.parametrize(
    ("command", "raw", "field"),
    [
        ("revoke", {"ids": "t1"}, "'ids'"),
        ("revoke", {"ids": []}, "'ids'"),
        ("revoke", {"ids": ["t1"], "force": True}, "'force'"),
        ("revoke", {"ids": ["t1"], "signal": "NOPE"}, "'signal': unknown signal"),
        ("shutdown", {}, "'names'"),
        ("pool_grow", {"n": 0}, "'n'"),
        ("pool_grow", {"names": []}, "'names': list at least one worker"),
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


def test_run_refuses_both_eta_and_countdown_with_a_clear_message() -> None:
    with pytest.raises(
        CommandError, match="invalid arguments for run: give either 'eta' or 'countdown', not both"
    ):
        validate("run", {"name": "demo.add", "eta": "2030-01-02T03:04:05Z", "countdown": 0})
    args = validate("run", {"name": "demo.add", "eta": "2030-01-02T03:04:05Z", "countdown": None})
    assert isinstance(args, RunArgs) and args.eta is not None and args.countdown is None


def test_retry_arguments_not_captured_in_full_are_refused_before_anything_runs() -> None:
    with pytest.raises(CommandError, match="arguments were not captured in full"):
        validate("retry", {"id": "x", "name": "demo.add", "args": "('aaaa...',)"})
    args = validate("retry", {"id": "x", "name": "demo.add", "args": "(1, 2)", "kwargs": None})
    assert isinstance(args, RetryArgs) and args.original_arguments() == ([1, 2], {})
