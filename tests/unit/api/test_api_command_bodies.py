"""Command bodies are the shared argument models (revoke's adds the original API's ``ides``),
so the contract's rules refuse a bad body at the API; retry's arguments from a task."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from pydantic import ValidationError
from tasktrail_api.domain import commands
from tasktrail_api.domain.errors import Unprocessable
from tasktrail_api.routes import queues, tasks, workers
from tasktrail_shared.commands import ARGUMENTS, RunArgs

ROUTE_COMMANDS = {"revoke_by_stamp": "revoke_by_stamped_headers"}
"""Operations named otherwise than the command they send."""


def test_every_command_route_takes_its_command_s_contract_as_body() -> None:
    checked = set()
    routes = [r for module in (tasks, workers, queues) for r in module.router.routes]
    for route in routes:
        if not isinstance(route, APIRoute) or route.body_field is None:
            continue
        command = ROUTE_COMMANDS.get(route.name, route.name)
        if command in ARGUMENTS:
            body = route.body_field.field_info.annotation
            assert isinstance(body, type) and issubclass(body, ARGUMENTS[command]), route.name
            checked.add(command)
    assert checked == set(ARGUMENTS) - {"refresh", "sync", "retry"}  # those take no body


def test_the_run_body_found_by_the_fuzzer_is_refused() -> None:
    """eta and countdown together: control refuses it, so the API must (400, not 502)."""
    body = {"args": [], "countdown": False, "eta": "2000-01-01T00:00:00Z", "kwargs": {},
            "name": "0", "queue": "0"}  # fmt: skip
    with pytest.raises(ValidationError):
        RunArgs.model_validate(body)
    with pytest.raises(ValidationError, match="not both"):
        RunArgs.model_validate({**body, "countdown": 0.0})


def test_revoke_takes_ides_and_dumps_ids() -> None:
    body = commands.RevokeBody.model_validate({"ides": ["a", " b ", "a"], "signal": "kill"})
    assert body.model_dump() == {"ids": ["a", "b"], "terminate": False, "signal": "SIGKILL"}
    assert ARGUMENTS["revoke"].model_validate(body.model_dump()).model_dump() == body.model_dump()


@pytest.mark.parametrize(
    "payload",
    [{}, {"ides": []}, {"ides": [""]}, {"ides": ["x"] * 1001}, {"ides": "abc"}, {"ids": ["a"]}],
)
def test_bad_revoke_bodies(payload: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as info:
        commands.RevokeBody.model_validate(payload)
    assert info.value.errors()[0]["loc"][0] == "ides"


def test_retry_needs_the_name_and_the_whole_arguments() -> None:
    doc = {"name": "demo.add", "args": "(1, 2)", "kwargs": "{}", "queue": "q"}
    assert commands.retry_arguments("t", doc).model_dump() == {
        "id": "t", "name": "demo.add", "args": "(1, 2)", "kwargs": "{}", "queue": "q"
    }  # fmt: skip
    for bad in ({**doc, "name": None}, {**doc, "args": "('x..."}, {**doc, "kwargs": "{'a': ..."},
                {**doc, "args": None}, {**doc, "args": "<object at 0x1>"}):  # fmt: skip
        with pytest.raises(Unprocessable):
            commands.retry_arguments("t", bad)


@pytest.mark.parametrize("key", ["k", "a" * 255, "order 42/retry", "~!"])
def test_idempotency_keys_are_printable(key: str) -> None:
    assert re.fullmatch(commands.IDEMPOTENCY_KEY, key)


@pytest.mark.parametrize("key", ["", "a" * 256, " k", "k ", "k\u00e9", "a\tb"])
def test_other_idempotency_keys_are_refused(key: str) -> None:
    assert not re.fullmatch(commands.IDEMPOTENCY_KEY, key)
