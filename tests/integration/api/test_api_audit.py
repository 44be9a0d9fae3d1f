"""The audit history: a task's events, all events by type/time/actor, and the NDJSON export,
read from what the real projector recorded."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import nats
import pytest
from tasktrail_api.settings import Settings
from tasktrail_shared.commands import REQUESTED
from tasktrail_shared.stream_message import own_event

from tests.integration.api.test_api_tasks import assert_error, assert_ok

pytestmark = pytest.mark.usefixtures("projector")


async def publish_command(
    nats_url: str, app: str, actor: str, command: str, args: dict[str, Any]
) -> None:
    """What control records before running a command (``tasktrail.command.requested``)."""
    payload = {"command_id": f"c-{actor}", "command": command, "actor": actor, "args": args}
    envelope = own_event(
        app=app, type=REQUESTED, payload=payload, source="control", id=f"cmd-{actor}"
    )
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().publish(
            envelope.nats_subject, envelope.data, headers=envelope.headers()
        )
    finally:
        await nc.close()


async def eventually(
    client: httpx.AsyncClient,
    path: str,
    n: int,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> Any:
    for _ in range(100):
        data = assert_ok(await client.get(path, params=params, headers=headers))
        if data["count"] >= n and len(data["events"]) >= n:  # the page and the count agree
            return data
        await asyncio.sleep(0.05)
    raise AssertionError(f"{path} never reached {n} entries: {data}")


@pytest.fixture
async def history(client: httpx.AsyncClient, settings: Settings, nats_url: str) -> float:
    start = time.time()
    for uuid in ("a-1", "a-2"):
        response = await client.post("/monitor/tasks", json={"uuid": uuid, "name": "n"})
        assert response.status_code == 201
    assert_ok(await client.patch("/monitor/tasks/a-1", json={"status": "f"}))
    revoke = {"ids": ["a-1", "a-2"], "terminate": False, "signal": None}
    await publish_command(nats_url, settings.app, "oncall", "revoke", revoke)
    await eventually(client, "/monitor/events", 5)
    return start


async def test_a_task_s_history_holds_records_and_commands_with_actors(
    client: httpx.AsyncClient, history: float
) -> None:
    data = assert_ok(await client.get("/monitor/tasks/a-1/events/"))
    assert [(e["type"], e["actor"]) for e in data["events"]] == [
        ("tasktrail.task.recorded", "admin"),
        ("tasktrail.task.amended", "admin"),
        (REQUESTED, "oncall"),
    ]
    assert data["events"][2]["event"]["args"]["ids"] == ["a-1", "a-2"]
    paged = assert_ok(
        await client.get("/monitor/tasks/a-1/events", params={"offset": 1, "limit": 1})
    )
    assert (paged["count"], paged["events"][0]["type"]) == (3, "tasktrail.task.amended")
    assert_error(await client.get("/monitor/tasks/nothing/events"), 404)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"actor": "oncall"}, [(REQUESTED, "a-1"), (REQUESTED, "a-2")]),  # message order
        ({"type": "tasktrail.task.amended"}, [("tasktrail.task.amended", "a-1")]),
        ({"type": "tasktrail.command.*", "uuid": "a-2"}, [(REQUESTED, "a-2")]),
        ({"actor": "nobody"}, []),
    ],
)
async def test_events_by_type_actor_and_task(
    client: httpx.AsyncClient, history: float, params: dict[str, str], expected: list[Any]
) -> None:
    data = assert_ok(await client.get("/monitor/events", params=params))
    assert [(e["type"], e["uuid"]) for e in data["events"]] == expected
    assert data["count"] == len(expected)


async def test_events_by_time(client: httpx.AsyncClient, history: float) -> None:
    everything = assert_ok(await client.get("/monitor/events"))["events"]
    assert len(everything) == 5
    stamps = sorted(e["timestamp"] for e in everything)
    later = assert_ok(await client.get("/monitor/events", params={"after": stamps[2]}))
    assert sorted(e["timestamp"] for e in later["events"]) == stamps[2:]
    earlier = assert_ok(await client.get("/monitor/events", params={"before": stamps[2]}))
    assert sorted(e["timestamp"] for e in earlier["events"]) == stamps[:2]


async def test_the_export_streams_ndjson_oldest_first(
    client: httpx.AsyncClient, history: float
) -> None:
    response = await client.get("/monitor/events/export", params={"type": "tasktrail.*"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 5
    assert [e["timestamp"] for e in lines] == sorted(e["timestamp"] for e in lines)
    only = await client.get("/monitor/events/export", params={"actor": "oncall", "uuid": "a-1"})
    assert [json.loads(line)["uuid"] for line in only.text.splitlines()] == ["a-1"]


@pytest.mark.parametrize("params", [{"type": "a b"}, {"after": "yesterday"}, {"limit": 0}])
async def test_bad_event_filters_are_400(client: httpx.AsyncClient, params: dict[str, Any]) -> None:
    assert_error(await client.get("/monitor/events", params=params), 400)


async def test_commands_naming_no_task_and_worker_edits_are_audited(
    client: httpx.AsyncClient, settings: Settings, nats_url: str
) -> None:
    """A pool resize names no task and a worker patch is no task's: both are still audited."""
    await publish_command(nats_url, settings.app, "ops", "pool_grow", {"n": 2})
    created = await client.post("/monitor/workers", json={"name": "celery@w1", "status": 1})
    assert created.status_code == 201, created.text
    data = await eventually(client, "/monitor/events", 2)
    assert [(e["type"], e["uuid"], e["actor"], e["hostname"]) for e in data["events"]] == [
        ("tasktrail.worker.recorded", None, "admin", "celery@w1"),  # newest first
        (REQUESTED, None, "ops", "control"),
    ]
    assert data["events"][0]["event"]["fields"] == {"status": True}
    ops = assert_ok(await client.get("/monitor/events", params={"actor": "ops"}))
    assert [e["event"]["command"] for e in ops["events"]] == ["pool_grow"]
    workers = assert_ok(await client.get("/monitor/events", params={"type": "tasktrail.worker.*"}))
    assert workers["count"] == 1
