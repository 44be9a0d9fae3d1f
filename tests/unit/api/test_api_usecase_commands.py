"""Commands through the service layer: arguments checked against the contract, the
``Idempotency-Key`` as the command id, and the commands that read the read models first
(sync, refresh, retry)."""

from __future__ import annotations

import pytest
from tasktrail_api.domain.errors import (
    BadRequest,
    CommandFailed,
    Forbidden,
    NotFound,
    Unprocessable,
)
from tasktrail_api.domain.principals import Principal, Role
from tasktrail_api.domain.scope import EVERYTHING
from tasktrail_shared.commands import CommandReply, CommandRequest

from tests.unit.api.fakes import (
    ADMIN,
    NOW,
    OPERATOR,
    VIEWER,
    World,
    ok_reply,
    task,
    worker,
)

OWN = "default"
"""The API's own cluster in a :class:`World` (``TASKTRAIL_APP``'s default)."""


@pytest.fixture
def world() -> World:
    return World(api_sync_chunk=2, api_worker_timeout=0.5)


async def test_a_command_is_sent_as_the_contract_says(world: World) -> None:
    reply = await world.use_cases.commands.send_to(OWN, "ping", {"names": ["celery@a"]}, OPERATOR)
    assert reply.ok
    [request] = world.sender.requests
    assert (request.command, request.args, request.actor) == (
        "ping",
        {"names": ["celery@a"]},
        "oncall",
    )
    assert request.timeout == 0.5


async def test_arguments_outside_the_contract_are_refused_before_sending(world: World) -> None:
    with pytest.raises(BadRequest, match=r"^ids: "):
        await world.use_cases.commands.send_to(OWN, "revoke", {"ids": []}, OPERATOR)
    with pytest.raises(BadRequest, match=r"^color: "):
        await world.use_cases.commands.send_to(OWN, "ping", {"color": "red"}, OPERATOR)
    assert world.sender.requests == []


async def test_without_a_key_every_request_is_a_new_command(world: World) -> None:
    for _ in range(2):
        await world.use_cases.commands.send_to(OWN, "purge", {"queue": "q"}, ADMIN)
    assert len(world.sender.executed) == 2
    assert world.sender.requests[0].id != world.sender.requests[1].id


async def test_the_same_key_executes_once_and_answers_the_first_reply(world: World) -> None:
    results = iter([1, 2])
    world.sender.reply = lambda request: ok_reply(request, next(results))
    first = await world.use_cases.commands.send_to(OWN, "purge", {"queue": "q"}, ADMIN, "k-1")
    again = await world.use_cases.commands.send_to(OWN, "purge", {"queue": "q"}, ADMIN, "k-1")
    assert first == again and again.result == 1
    assert len(world.sender.executed) == 1
    assert world.sender.requests[0].id == world.sender.requests[1].id == "root/k-1"


async def test_keys_belong_to_their_caller(world: World) -> None:
    await world.use_cases.commands.send_to(OWN, "ping", {}, ADMIN, "k")
    await world.use_cases.commands.send_to(OWN, "ping", {}, OPERATOR, "k")
    assert [r.id for r in world.sender.executed] == ["root/k", "oncall/k"]


async def test_a_long_key_under_a_long_name_still_makes_one_command_id(world: World) -> None:
    caller = Principal("n" * 64, Role.operator)
    for _ in range(2):
        await world.use_cases.commands.send_to(OWN, "ping", {}, caller, "k" * 255)
    [executed] = world.sender.executed
    assert len(executed.id) <= 255 and executed.id.startswith(f"{caller.name}/sha256:")
    assert world.sender.requests[1].id == executed.id


async def test_a_key_used_for_another_command_is_refused(world: World) -> None:
    await world.use_cases.commands.send_to(OWN, "ping", {}, ADMIN, "k")
    with pytest.raises(CommandFailed, match="'root/k' was used for ping"):
        await world.use_cases.commands.send_to(OWN, "purge", {"queue": "q"}, ADMIN, "k")
    assert len(world.sender.executed) == 1


async def test_a_failed_command_is_reported_with_control_s_reason(world: World) -> None:
    def failing(request: CommandRequest) -> CommandReply:
        return CommandReply(id=request.id, command=request.command, ok=False, error="no broker")

    world.sender.reply = failing
    with pytest.raises(CommandFailed, match="no broker"):
        await world.use_cases.commands.send_to(OWN, "ping", {}, OPERATOR)


async def test_sync_sends_the_unfinished_tasks_in_chunks(world: World) -> None:
    states = ["PENDING", "SUCCESS", "STARTED", "FAILURE", "RETRY", "REVOKED", "RECEIVED"]
    world.read_models.tasks.add(*(task(f"t-{i}", s) for i, s in enumerate(states)))
    world.read_models.tasks.add(task("gone", "PENDING", deleted=True))
    world.sender.reply = lambda request: ok_reply(request, len(request.args["ids"]))
    assert await world.use_cases.tasks.sync_all(OPERATOR, "s", EVERYTHING) == 4
    assert [r.args["ids"] for r in world.sender.requests] == [["t-0", "t-2"], ["t-4", "t-6"]]
    assert [r.id for r in world.sender.requests] == ["oncall/s#0", "oncall/s#1"]


async def test_a_task_read_with_sync_waits_for_the_reconciliation(world: World) -> None:
    world.read_models.tasks.add(task("t-1", "STARTED"))

    def reconcile(request: CommandRequest) -> CommandReply:
        doc = world.read_models.tasks.docs["t-1"]
        doc.update(state="SUCCESS", _records={"reconciled": {"at": NOW.timestamp()}})
        return ok_reply(request, 1)

    world.sender.reply = reconcile
    shown = await world.use_cases.tasks.get_synced("t-1", OPERATOR, None, EVERYTHING)
    assert shown["status"] == "SUCCESS"
    assert world.clock.elapsed == 0


async def test_a_sync_that_is_never_projected_waits_no_longer_than_a_write(world: World) -> None:
    world.read_models.tasks.add(task("t-1", "STARTED"))
    world.sender.reply = lambda request: ok_reply(request, 1)
    shown = await world.use_cases.tasks.get_synced("t-1", OPERATOR, None, EVERYTHING)
    assert shown["status"] == "STARTED"
    assert world.clock.elapsed == pytest.approx(world.settings.api_write_wait)


async def test_sync_on_read_needs_an_operator(world: World) -> None:
    world.read_models.tasks.add(task("t-1"))
    with pytest.raises(Forbidden, match="operator"):
        await world.use_cases.tasks.get_synced("t-1", VIEWER, None, EVERYTHING)
    assert world.sender.requests == []


async def test_retry_sends_the_recorded_arguments(world: World) -> None:
    world.read_models.tasks.add(task("t-1", "FAILURE"), task("t-2", "FAILURE", args="('x..."))
    world.sender.reply = lambda request: ok_reply(request, "new-id")
    assert await world.use_cases.tasks.retry("t-1", OPERATOR, None, EVERYTHING) == "new-id"
    assert world.sender.requests[0].args == {
        "id": "t-1", "name": "demo.add", "args": "(1, 2)", "kwargs": "{}", "queue": "celery"
    }  # fmt: skip
    with pytest.raises(Unprocessable, match="captured"):
        await world.use_cases.tasks.retry("t-2", OPERATOR, None, EVERYTHING)
    with pytest.raises(NotFound):
        await world.use_cases.tasks.retry("nope", OPERATOR, None, EVERYTHING)


async def test_refresh_expects_the_workers_shown_online(world: World) -> None:
    world.read_models.workers.add(worker("celery@a", online=True), worker("celery@b", online=False))
    shown = await world.use_cases.workers.refresh(OPERATOR, None, EVERYTHING)
    assert shown["expected"] == ["celery@a"]
    assert shown["workers"] == {"celery@a": {"status": "ok", "detail": "ok"}}
    assert world.sender.requests[0].args == {"names": None, "expected": ["celery@a"]}
