"""``Idempotency-Key`` against the real control service (its once-only ledger in JetStream's
key-value store), a real Redis broker and the real projector: a command repeated with the
same key is executed once and answered with the first reply."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import redis.asyncio as redis
from tasktrail_api.settings import Settings
from tasktrail_control.bootstrap import Wired, bootstrap
from tasktrail_control.settings import Settings as ControlSettings
from tasktrail_devstack.servers import redis_db

from tests.integration.api.test_api_tasks import assert_error, assert_ok

pytestmark = pytest.mark.usefixtures("projector")


@pytest.fixture
def broker_url(redis_url: str) -> str:
    return redis_db(redis_url, 6)


@pytest.fixture
async def real_control(
    settings: Settings, nats_url: str, nats_stream: str, broker_url: str
) -> AsyncIterator[Wired]:
    control_settings = ControlSettings(
        broker_url=broker_url,
        nats_url=nats_url,
        app=settings.app,
        stream=nats_stream,
        control_health_port=0,
    )
    wired = await bootstrap(control_settings)
    await wired.bus.serve(control_settings.app, wired.control.handle)
    yield wired
    await wired.bus.close()
    wired.remote.close()


async def commands_in_the_log(client: httpx.AsyncClient, until_id: str) -> list[dict[str, Any]]:
    """The command entries of ``/monitor/events``, once the completion of ``until_id`` (the
    last command sent) is projected: the log is projected in order, so every earlier entry
    is there too."""
    params: dict[str, str | int] = {"type": "tasktrail.command.*", "limit": 1000}
    for _ in range(200):
        events = assert_ok(await client.get("/monitor/events", params=params))["events"]
        if any(e["event"].get("command_id") == until_id and e["type"].endswith("completed")
               for e in events):  # fmt: skip
            return list(events)
        await asyncio.sleep(0.05)
    raise AssertionError(f"command {until_id} never showed in /monitor/events")


async def test_the_same_key_runs_a_task_once_and_answers_the_first_reply(
    client: httpx.AsyncClient, real_control: Wired, broker_url: str
) -> None:
    queue = f"tt-idem-{uuid.uuid4().hex[:8]}"
    body = {"name": "demo.add", "args": [1, 2], "queue": queue}
    keyed = {"Idempotency-Key": "run 2024-05-01 #1"}
    first = assert_ok(await client.post("/monitor/tasks/run", json=body, headers=keyed))
    again = assert_ok(await client.post("/monitor/tasks/run", json=body, headers=keyed))
    assert again == first
    fresh = assert_ok(
        await client.post("/monitor/tasks/run", json=body, headers={"Idempotency-Key": "last"})
    )
    assert fresh != first

    broker = redis.Redis.from_url(broker_url)
    try:
        assert await broker.llen(queue) == 2  # the keyed run once, then the other one
    finally:
        await broker.aclose()

    entries = await commands_in_the_log(client, "admin/last")
    keyed_entries = [e for e in entries if e["event"]["command_id"] == "admin/run 2024-05-01 #1"]
    assert sorted(e["type"] for e in keyed_entries) == [
        "tasktrail.command.completed",
        "tasktrail.command.requested",
    ]
    assert [e["actor"] for e in keyed_entries] == ["admin", "admin"]


async def test_a_key_used_for_another_command_is_refused(
    client: httpx.AsyncClient, real_control: Wired
) -> None:
    keyed = {"Idempotency-Key": "k-1"}
    assert_ok(await client.post("/monitor/queues/purge", json={"queue": "nothing"}, headers=keyed))
    response = await client.post("/monitor/workers/ping", json={}, headers=keyed)
    assert_error(response, 502, "not executed", "'admin/k-1' was used for purge")


@pytest.mark.parametrize("key", ["", "x" * 256, " padded", "caf\u00e9"])
async def test_a_malformed_key_is_400(client: httpx.AsyncClient, key: str) -> None:
    response = await client.post(
        "/monitor/workers/ping", json={}, headers={b"Idempotency-Key": key.encode()}
    )
    message = assert_error(response, 400, "Idempotency-Key")
    assert response.json()["data"]["errors"][0]["in"] == "header", message
