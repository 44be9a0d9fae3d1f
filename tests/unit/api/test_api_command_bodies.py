"""Command bodies: derived from the shared argument models, so the contract's rules refuse a
bad body at the API; what the HTTP boundary adds (``ides``, signal names, limits)."""

from __future__ import annotations

import re

import pytest
from pydantic import BaseModel, ValidationError
from tasktrail_api.domain import commands
from tasktrail_api.domain.commands import RevokeBody, ShutdownBody, normalize_signal
from tasktrail_api.domain.errors import Unprocessable
from tasktrail_shared.commands import ARGUMENTS

BODIES: dict[str, type[BaseModel]] = {
    "revoke": commands.RevokeBody,
    "revoke_by_stamped_headers": commands.RevokeByStampBody,
    "shutdown": commands.ShutdownBody,
    "ping": commands.PingBody,
    "pool_grow": commands.PoolBody,
    "pool_shrink": commands.PoolBody,
    "autoscale": commands.AutoscaleBody,
    "rate_limit": commands.RateLimitBody,
    "time_limit": commands.TimeLimitBody,
    "add_consumer": commands.ConsumerBody,
    "cancel_consumer": commands.ConsumerBody,
    "purge": commands.PurgeBody,
    "run": commands.RunBody,
}


@pytest.mark.parametrize(("command", "body"), BODIES.items())
def test_every_body_is_its_command_s_contract(command: str, body: type[BaseModel]) -> None:
    assert issubclass(body, ARGUMENTS[command])
    assert body.model_config.get("extra") == "forbid"


def test_a_body_dumps_to_exactly_the_contract_s_arguments() -> None:
    body = commands.RunBody.model_validate(
        {"name": " demo.add ", "args": [1], "eta": "2030-01-01T00:00:00+02:00"}
    )
    args = body.model_dump(mode="json")
    assert args == {"name": "demo.add", "args": [1], "kwargs": {}, "queue": None,
                    "eta": "2030-01-01T00:00:00+02:00", "countdown": None}  # fmt: skip
    assert ARGUMENTS["run"].model_validate(args).model_dump(mode="json") == args


@pytest.mark.parametrize(
    "eta", ["2024-01-01T00:00:00", "0001-01-01T00:00:00+05:00", "soon", "1969-01-01T00:00:00Z"]
)
def test_a_run_eta_has_a_zone_and_a_year_we_keep(eta: str) -> None:
    with pytest.raises(ValidationError) as info:
        commands.RunBody.model_validate({"name": "x", "eta": eta})
    assert info.value.errors()[0]["loc"] == ("eta",)


def test_retry_needs_the_name_and_the_whole_arguments() -> None:
    doc = {"name": "demo.add", "args": "(1, 2)", "kwargs": "{}", "queue": "q"}
    assert commands.retry_arguments("t", doc) == {
        "id": "t", "name": "demo.add", "args": "(1, 2)", "kwargs": "{}", "queue": "q"
    }  # fmt: skip
    for bad in ({**doc, "name": None}, {**doc, "args": "('x..."}, {**doc, "kwargs": "{'a': ..."}):
        with pytest.raises(Unprocessable):
            commands.retry_arguments("t", bad)


@pytest.mark.parametrize("key", ["k", "a" * 255, "order 42/retry", "~!"])
def test_idempotency_keys_are_printable(key: str) -> None:
    assert re.fullmatch(commands.IDEMPOTENCY_KEY, key)


@pytest.mark.parametrize("key", ["", "a" * 256, " k", "k ", "ké", "a\tb"])
def test_other_idempotency_keys_are_refused(key: str) -> None:
    assert not re.fullmatch(commands.IDEMPOTENCY_KEY, key)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("SIGTERM", "SIGTERM"),
        ("term", "SIGTERM"),
        ("KILL", "SIGKILL"),
        (9, "SIGKILL"),
        ("15", "SIGTERM"),
    ],
)
def test_signals_by_name_or_number(value: object, expected: str) -> None:
    assert normalize_signal(value) == expected


@pytest.mark.parametrize("value", ["SIGNOPE", 0, 999, True, 1.5, ""])
def test_unknown_signals_are_refused(value: object) -> None:
    with pytest.raises(ValueError):
        normalize_signal(value)


def test_revoke_body_defaults_and_dedupes() -> None:
    body = RevokeBody.model_validate({"ides": ["a", " b ", "a"]})
    assert (body.ids, body.terminate, body.signal) == (["a", "b"], False, "SIGTERM")
    assert body.model_dump() == {"ids": ["a", "b"], "terminate": False, "signal": "SIGTERM"}


@pytest.mark.parametrize(
    "payload", [{}, {"ides": []}, {"ides": [""]}, {"ides": ["x"] * 1001}, {"ides": "abc"}]
)
def test_bad_revoke_bodies(payload: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as info:
        RevokeBody.model_validate(payload)
    assert info.value.errors()[0]["loc"][0] == "ides"


def test_shutdown_needs_names() -> None:
    with pytest.raises(ValidationError):
        ShutdownBody.model_validate({"names": []})
