"""The command argument models: every rule about a command's arguments, in one place."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, get_args

import pytest
from pydantic import ValidationError
from tasktrail_shared.commands import (
    ARGUMENTS,
    AutoscaleArgs,
    CommandName,
    CommandRequest,
    PingArgs,
    RetryArgs,
    RevokeArgs,
    RunArgs,
    TimeLimitArgs,
    check_arguments,
    normalise_signal,
)


def _refused(model: type[Any], raw: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        model.model_validate(raw)
    return str(info.value)


def test_every_command_has_one_argument_model() -> None:
    assert set(ARGUMENTS) == set(get_args(CommandName))


def test_run_takes_eta_or_countdown_not_both() -> None:
    eta = "2030-01-02T03:04:05Z"
    assert RunArgs.model_validate({"name": "t", "eta": eta}).eta == datetime(
        2030, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    assert RunArgs.model_validate({"name": "t", "countdown": 5}).countdown == 5.0
    assert RunArgs.model_validate({"name": "t", "eta": None, "countdown": None}).eta is None
    for countdown in (0, 0.0, 10):  # zero is a countdown too: given is given
        message = _refused(RunArgs, {"name": "t", "eta": eta, "countdown": countdown})
        assert "give either 'eta' or 'countdown', not both" in message


@pytest.mark.parametrize(
    "raw",
    [
        {"countdown": False},  # a flag is not a number of seconds
        {"countdown": True},
        {"countdown": "5"},
        {"countdown": -1},
        {"countdown": float("inf")},
        {"eta": "2030-01-02T03:04:05"},  # which time zone?
        {"eta": "tomorrow"},
        {"eta": "1969-12-31T23:59:59Z"},
        {"eta": "2030-01-02T03:04:05Z", "countdown": False},
        {"kwargs": {"$where": 1}},  # the audit event stores the arguments in MongoDB
        {"args": [2**64]},
        {"name": " "},
    ],
)
def test_run_refuses_boundary_values(raw: dict[str, Any]) -> None:
    _refused(RunArgs, {"name": "demo.add", **raw})


def test_run_arguments_dump_as_json_the_control_service_reads_back() -> None:
    args = RunArgs.model_validate({"name": "t", "eta": "2030-01-02T05:04:05+02:00"})
    dumped = args.model_dump(mode="json")
    assert dumped["eta"] == "2030-01-02T03:04:05+00:00"
    assert RunArgs.model_validate(dumped) == args


def test_flags_and_counts_are_strict() -> None:
    assert "terminate" in _refused(RevokeArgs, {"ids": ["t"], "terminate": 1})
    assert "n" in _refused(ARGUMENTS["pool_grow"], {"n": True})
    assert "max" in _refused(AutoscaleArgs, {"max": "4", "min": 1})


def test_cross_field_rules() -> None:
    assert "'min' must not exceed 'max'" in _refused(AutoscaleArgs, {"max": 2, "min": 3})
    assert AutoscaleArgs.model_validate({"max": 2, "min": 2}).min == 2
    message = _refused(TimeLimitArgs, {"task_name": "t", "soft": 10, "hard": 5})
    assert "'soft' must not exceed 'hard'" in message
    assert TimeLimitArgs.model_validate({"task_name": "t", "soft": 10}).hard is None


def test_worker_names_absent_mean_every_worker_and_empty_is_refused() -> None:
    assert PingArgs.model_validate({}).names is None
    assert PingArgs.model_validate({"names": ["a", " b ", "a"]}).names == ["a", "b"]
    assert "list at least one worker" in _refused(PingArgs, {"names": []})
    assert "names" in _refused(ARGUMENTS["shutdown"], {})


def test_an_absent_signal_is_sigterm() -> None:
    assert RevokeArgs.model_validate({"ids": ["t"]}).signal == "SIGTERM"


def test_ids_are_deduplicated_in_order() -> None:
    assert RevokeArgs.model_validate({"ids": ["b", "a", "b"]}).ids == ["b", "a"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [("SIGTERM", "SIGTERM"), ("TERM", "SIGTERM"), ("sigkill", "SIGKILL"), ("9", "SIGKILL"),
     (15, "SIGTERM")],
)  # fmt: skip
def test_signals_are_normalised_to_celerys_names(given: object, expected: str) -> None:
    assert normalise_signal(given) == expected
    assert RevokeArgs.model_validate({"ids": ["t"], "signal": given}).signal == expected


@pytest.mark.parametrize("given", ["SIGNOPE", "999", 0, "kill -9", True, 1.5, "", None])
def test_unknown_signals_are_refused(given: object) -> None:
    with pytest.raises(ValueError, match="signal"):
        normalise_signal(given)


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ("('boom',)", "{}", (["boom"], {})),
        ("[2, 3]", None, ([2, 3], {})),
        ("()", "{'x': 1, 'y': [1, 2]}", ([], {"x": 1, "y": [1, 2]})),
    ],
)
def test_retry_arguments_come_back_from_celerys_reprs(
    args: str, kwargs: str | None, expected: tuple[list[object], dict[str, object]]
) -> None:
    retry = RetryArgs.model_validate({"id": "t", "name": "n", "args": args, "kwargs": kwargs})
    assert retry.original_arguments() == expected


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [
        ("('" + "x" * 1000 + "...", "{}"),  # Celery cut it
        ("('a',)", "{'k': [0, 1, ...]}"),
        ("(datetime.datetime(2024, 1, 1, 0, 0),)", "{}"),  # an object's repr
        ("(1, 2", "{}"),
        ("42", "{}"),
        ("()", "[1]"),
        (None, "{}"),
    ],
)
def test_retry_arguments_not_captured_in_full_are_refused(args: str | None, kwargs: str) -> None:
    raw = {"id": "t", "name": "n", "args": args, "kwargs": kwargs}
    assert "arguments were not captured in full" in _refused(RetryArgs, raw)


def test_check_arguments_names_the_command_and_the_field() -> None:
    with pytest.raises(ValueError, match=r"^invalid arguments for purge: 'queue': "):
        check_arguments("purge", {"queue": ""})
    with pytest.raises(ValueError, match=r"^invalid arguments for run: give either"):
        check_arguments("run", {"name": "t", "eta": "2030-01-01T00:00:00Z", "countdown": 1})


def test_the_models_document_themselves_for_request_bodies() -> None:
    schema = RunArgs.model_json_schema()
    assert schema["examples"] and "description" in schema["properties"]["eta"]
    assert all("examples" in m.model_json_schema() for m in (RevokeArgs, RetryArgs))


def test_a_request_id_is_never_empty() -> None:
    assert CommandRequest(command="ping").id
    with pytest.raises(ValidationError):
        CommandRequest(id="", command="ping")
