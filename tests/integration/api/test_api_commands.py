"""Revoke and shutdown over NATS request/reply, with a stand-in answering for control."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.settings import Settings
from tasktrail_shared.commands import ARGUMENTS, CommandReply, CommandRequest

from tests.integration.api.conftest import FakeControl
from tests.integration.api.support import Doc, task_doc, worker_doc
from tests.integration.api.test_api_tasks import assert_error, assert_ok

IDS = ["00895719-cd65-4927-9934-2f749de24acc", "00895719-cd65-4927-9934-2f749de24abc"]


async def test_revoke(client: httpx.AsyncClient, control: FakeControl) -> None:
    body = {"ides": IDS, "terminate": True, "signal": "kill"}
    data = assert_ok(await client.post("/monitor/tasks/revoke", json=body))
    assert data == {
        "list_revokes": {"celery@w1": IDS, "celery@w2": IDS},
        "errors": {"celery@w3": "not found"},
    }
    [request] = control.requests
    assert request.command == "revoke"
    assert request.args == {"ids": IDS, "terminate": True, "signal": "SIGKILL"}
    assert request.actor == "admin"
    assert request.timeout == 0.5


async def test_revoke_defaults_to_no_termination(
    client: httpx.AsyncClient, control: FakeControl
) -> None:
    assert_ok(await client.post("/monitor/tasks/revoke/", json={"ides": IDS[:1]}))
    assert control.requests[0].args == {"ids": IDS[:1], "terminate": False, "signal": "SIGTERM"}


async def test_a_failed_command_is_502(client: httpx.AsyncClient, control: FakeControl) -> None:
    def failing(request: CommandRequest) -> CommandReply:
        return CommandReply(id=request.id, command=request.command, ok=False, error="broker down")

    control.reply = failing
    assert_error(await client.post("/monitor/tasks/revoke", json={"ides": IDS}), 502, "broker down")


async def test_a_reply_to_another_request_is_502(
    client: httpx.AsyncClient, control: FakeControl
) -> None:
    control.reply = lambda request: CommandReply(id="other", command=request.command, ok=True)
    assert_error(await client.post("/monitor/workers/shutdown", json={"names": ["a"]}), 502)


async def test_without_control_commands_are_503(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/monitor/tasks/revoke", json={"ides": IDS}), 503, "control")
    assert_error(await client.post("/monitor/workers/shutdown", json={"names": ["a"]}), 503)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "ides"),
        ({"ides": []}, "ides"),
        ({"ides": [""]}, "ides.0"),
        ({"ides": ["x"] * 1001}, "ides"),
        ({"ides": IDS, "signal": "SIGNOPE"}, "signal"),
        ({"ides": IDS, "terminate": "perhaps"}, "terminate"),
    ],
)
async def test_bad_revoke_bodies_are_400(
    client: httpx.AsyncClient, body: dict[str, object], field: str
) -> None:
    message = assert_error(await client.post("/monitor/tasks/revoke", json=body), 400)
    assert message.startswith(f"{field}: ")


async def test_a_body_that_is_not_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/monitor/tasks/revoke", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400)


async def test_shutdown(client: httpx.AsyncClient, control: FakeControl) -> None:
    names = ["celery@w1", "celery@w2", "celery@w3"]
    data = assert_ok(await client.post("/monitor/workers/shutdown/", json={"names": names}))
    assert data == {
        "names": [{"celery@w1": "shutdown", "celery@w2": "shutdown"}],
        "errors": {"celery@w3": "not found"},
    }
    [request] = control.requests
    assert (request.command, request.args, request.actor) == ("shutdown", {"names": names}, "admin")


# --- sync, refresh and the other commands ---------------------------------------------------


def answering(result: Any) -> Any:
    def reply(request: CommandRequest) -> CommandReply:
        return CommandReply(id=request.id, command=request.command, ok=True, result=result)

    return reply


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"api_sync_chunk": 2})


async def test_sync_sends_every_unfinished_task_in_chunks(
    client: httpx.AsyncClient, control: FakeControl, db: AsyncDatabase[Doc], settings: Settings
) -> None:
    states = ["PENDING", "STARTED", "SUCCESS", "FAILURE", "RECEIVED", "REVOKED", "RETRY"]
    app = settings.app  # each task's sync goes to its own cluster's control
    await db.tasks.insert_many([task_doc(f"t-{i}", s, app=app) for i, s in enumerate(states)])
    await db.tasks.insert_one(task_doc("gone", "PENDING", deleted=True))
    control.reply = answering(1)
    data = assert_ok(await client.get("/monitor/tasks/sync/"))
    assert data == "2 numbers were synchronized."
    sent = [r.args["ids"] for r in control.requests]
    assert sent == [["t-0", "t-1"], ["t-4", "t-6"]]
    assert {r.command for r in control.requests} == {"sync"}


async def test_retrieve_with_sync_asks_control_first(
    client: httpx.AsyncClient, control: FakeControl, db: AsyncDatabase[Doc], settings: Settings
) -> None:
    await db.tasks.insert_one(task_doc("t-1", "STARTED", app=settings.app))
    control.reply = answering(0)
    data = assert_ok(await client.get("/monitor/tasks/t-1", params={"sync": "true"}))
    assert data["celerytask"]["status"] == "STARTED"
    assert_ok(await client.get("/monitor/tasks/t-1?sync"))
    assert [(r.command, r.args) for r in control.requests] == [("sync", {"ids": ["t-1"]})] * 2
    assert_error(await client.get("/monitor/tasks/t-1", params={"sync": "perhaps"}), 400, "sync")


async def test_refresh_expects_the_workers_shown_online(
    client: httpx.AsyncClient, control: FakeControl, db: AsyncDatabase[Doc], settings: Settings
) -> None:
    await db.workers.insert_many(
        [
            worker_doc("celery@w1", online=True, app=settings.app),
            worker_doc("celery@w2", online=False, app=settings.app),
        ]
    )
    response = await client.get("/monitor/workers/refresh/")
    assert response.status_code == 205
    body = response.json()
    assert body["err"] is False and body["data"]["expected"] == ["celery@w1"]
    assert body["data"]["workers"]["celery@w3"] == {"status": "error", "detail": "not found"}
    [request] = control.requests
    assert (request.command, request.args) == (
        "refresh",
        {"names": None, "expected": ["celery@w1"]},
    )


@pytest.mark.parametrize(
    ("path", "body", "command", "args"),
    [
        ("/monitor/workers/pool/grow", {"names": ["celery@w1"], "n": 2}, "pool_grow",
         {"names": ["celery@w1"], "n": 2}),
        ("/monitor/workers/pool/shrink", {}, "pool_shrink", {"names": None, "n": 1}),
        ("/monitor/workers/autoscale", {"max": 4, "min": 1}, "autoscale",
         {"names": None, "max": 4, "min": 1}),
        ("/monitor/workers/consumers/add", {"queue": "q"}, "add_consumer",
         {"names": None, "queue": "q", "exchange": None, "routing_key": None}),
        ("/monitor/workers/consumers/cancel", {"queue": "q", "names": ["a"]}, "cancel_consumer",
         {"names": ["a"], "queue": "q", "exchange": None, "routing_key": None}),
        ("/monitor/workers/ping", {}, "ping", {"names": None}),
        ("/monitor/tasks/rate-limit", {"task_name": "demo.add", "rate": "10/m"}, "rate_limit",
         {"names": None, "task_name": "demo.add", "rate": "10/m"}),
        ("/monitor/tasks/time-limit", {"task_name": "demo.add", "soft": 5}, "time_limit",
         {"names": None, "task_name": "demo.add", "soft": 5.0, "hard": None}),
        ("/monitor/tasks/revoke-by-stamp", {"headers": {"k": "v"}}, "revoke_by_stamped_headers",
         {"headers": {"k": "v"}, "terminate": False, "signal": "SIGTERM"}),
        ("/monitor/queues/purge", {"queue": "celery"}, "purge", {"queue": "celery"}),
    ],
)  # fmt: skip
async def test_commands_send_exactly_the_contract_arguments(
    client: httpx.AsyncClient,
    control: FakeControl,
    path: str,
    body: dict[str, Any],
    command: str,
    args: dict[str, Any],
) -> None:
    control.reply = lambda r: CommandReply(
        id=r.id, command=r.command, ok=True, workers=control.workers, result=3
    )
    data = assert_ok(await client.post(path, json=body))
    assert data["result"] == 3 and data["workers"]["celery@w1"]["status"] == "ok"
    [request] = control.requests
    assert (request.command, request.args) == (command, args)
    assert ARGUMENTS[command].model_validate(request.args).model_dump() == args


async def test_run_and_retry_answer_the_new_task_id(
    client: httpx.AsyncClient, control: FakeControl, db: AsyncDatabase[Doc], settings: Settings
) -> None:
    control.reply = answering("new-id")
    eta = (datetime.now(UTC) + timedelta(minutes=5)).replace(microsecond=0)
    body = {"name": "demo.add", "args": [1, 2], "kwargs": {"x": None}, "eta": eta.isoformat()}
    assert assert_ok(await client.post("/monitor/tasks/run", json=body)) == {"task_id": "new-id"}
    assert control.requests[0].args == {
        "name": "demo.add", "args": [1, 2], "kwargs": {"x": None}, "queue": None,
        "eta": eta.isoformat(), "countdown": None, "time_limit": None, "soft_time_limit": None,
        "labels": None,
    }  # fmt: skip
    await db.tasks.insert_one(
        task_doc("t-1", "FAILURE", args="(1, 2)", kwargs="{}", app=settings.app)
    )
    assert assert_ok(await client.post("/monitor/tasks/t-1/retry")) == {"task_id": "new-id"}
    assert control.requests[1].args == {
        "id": "t-1", "name": "scan.tasks.port_enumerate", "args": "(1, 2)", "kwargs": "{}",
        "queue": "celery",
    }  # fmt: skip
    await db.tasks.insert_one(
        task_doc("t-2", "FAILURE", args="('x...", kwargs="{}", app=settings.app)
    )
    assert_error(await client.post("/monitor/tasks/t-2/retry"), 422, "captured")
    assert_error(await client.post("/monitor/tasks/nope/retry"), 404)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/monitor/workers/pool/grow", {"n": 0}, "n"),
        ("/monitor/workers/pool/grow", {"names": []}, "names"),
        ("/monitor/workers/autoscale", {"max": 4}, "min"),
        ("/monitor/tasks/rate-limit", {"task_name": "x", "rate": "fast"}, "rate"),
        ("/monitor/tasks/run", {"name": "x", "eta": "2024-01-01T00:00:00"}, "eta"),
        ("/monitor/tasks/run", {"name": "x", "time_limit": 0}, "time_limit"),
        ("/monitor/tasks/run", {"name": "x", "labels": {"origin": "secret"}}, "body"),
        ("/monitor/tasks/run", {"name": "x", "labels": {"state": "x"}}, "labels.state"),
        ("/monitor/queues/purge", {"queue": ""}, "queue"),
        ("/monitor/queues/purge", {"queue": "q", "extra": 1}, "extra"),
    ],
)
async def test_bad_command_bodies_are_400(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], field: str
) -> None:
    assert assert_error(await client.post(path, json=body), 400).startswith(field)


async def test_run_with_both_eta_and_countdown_is_400_not_502(
    client: httpx.AsyncClient, control: FakeControl
) -> None:
    """Found by the fuzzer's coverage phase: the API accepted what control refuses."""
    body = {"args": [], "countdown": False, "eta": "2000-01-01T00:00:00Z", "kwargs": {},
            "name": "0", "queue": "0"}  # fmt: skip
    assert_error(await client.post("/monitor/tasks/run", json=body), 400)
    assert control.requests == []
