"""Alerts end to end: a real Celery worker (-E) on a real Redis broker, the collector into a
real JetStream, two notifier replicas on one MongoDB(-wire) database, the API managing the
channel and the rule, and a local webhook receiver.

A failing task fires the rule; the receiver answers 500 twice, then 200, and gets the
notification once (after retries) although two replicas evaluate the same log; the task
succeeding again resolves the incident, with the same incident id. A killed worker fires
``worker_offline``. A silence keeps a firing notification from being sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from celery import Celery
from tasktrail_devstack.processes import ServiceProcess
from tasktrail_notifier.bootstrap import Wired, bootstrap
from tasktrail_notifier.settings import Settings

from tests.integration.notifier.conftest import ADMIN, APP, AUTH, SECRET
from tests.integration.notifier.receivers import Receiver, receiving

__all__ = ["ADMIN", "APP", "AUTH", "notifier", "verify", "webhook_rule"]


@contextlib.asynccontextmanager
async def notifier(fresh_nats_url: str, mongo_url: str, mongo_db: str) -> AsyncIterator[Wired]:
    settings = Settings(
        nats_url=fresh_nats_url, mongo_url=mongo_url, mongo_db=mongo_db, app=APP,
        notifier_health_port=0, notifier_tick=0.1, notifier_config_max_age=0.2,
        notifier_backoff=0.1,
    )  # fmt: skip
    wired = await bootstrap(settings)
    await wired.notifier.start()
    stop = asyncio.Event()
    task = asyncio.create_task(wired.notifier.run(stop))
    try:
        yield wired
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await wired.close()


Replicas = Callable[[], contextlib.AbstractAsyncContextManager[Wired]]


@pytest.fixture
def replicas(fresh_nats_url: str, mongo_url: str, mongo_db: str) -> Replicas:
    """Starts a notifier replica on this test's log and database: ``async with replicas():``."""
    return functools.partial(notifier, fresh_nats_url, mongo_url, mongo_db)


async def created(api: httpx.AsyncClient, path: str, body: dict[str, Any], key: str) -> str:
    response = await api.post(path, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["data"][key]["id"])


def verify(request: Any) -> dict[str, Any]:
    """The webhook's signature holds for its timestamp and body; the body as JSON."""
    timestamp = request.headers["x-tasktrail-timestamp"]
    mac = hmac.new(SECRET.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256)
    assert request.headers["x-tasktrail-signature"] == f"sha256={mac.hexdigest()}"
    assert abs(time.time() - int(timestamp)) < 300
    body: dict[str, Any] = request.json()
    return body


async def webhook_rule(
    api: httpx.AsyncClient,
    receiver: Receiver,
    kind: str,
    flt: dict[str, Any],
    params: dict[str, Any],
) -> tuple[str, str]:
    channel = await created(
        api, "/monitor/alerts/channels",
        {"name": "hook", "type": "webhook", "config": {"url": receiver.url, "secret": SECRET}},
        "channel",
    )  # fmt: skip
    rule = await created(
        api, "/monitor/alerts/rules",
        {"name": f"{kind} rule", "kind": kind, "filter": flt, "params": params,
         "channels": [channel]},
        "rule",
    )  # fmt: skip
    return channel, rule


async def test_failing_task_fires_once_after_retries_then_resolves(
    replicas: Replicas, api: httpx.AsyncClient, worker: ServiceProcess, celery_client: Celery
) -> None:
    async with receiving(500, 500) as receiver:
        _, rule = await webhook_rule(api, receiver, "task_failed", {"name": "demo.a*"}, {})
        async with replicas(), replicas():
            sent = time.time()
            celery_client.send_task("demo.add", args=["text", 1])  # TypeError: fails
            (firing,) = await receiver.wait_for(1)
            body = verify(firing)
            assert body["status"] == "firing"
            assert body["rule"] == {"id": rule, "name": "task_failed rule", "kind": "task_failed"}
            incident = body["incident"]
            assert incident["key"] == "demo.add" and incident["resolved_at"] is None
            assert incident["started_at"] is not None

            celery_client.send_task("demo.add", args=[1, 2])
            (_, resolved) = await receiver.wait_for(2)
            again = verify(resolved)
            assert again["status"] == "resolved"
            assert again["incident"]["id"] == incident["id"]
            assert again["incident"]["resolved_at"] is not None
            await asyncio.sleep(1.0)  # time for a second replica to (wrongly) send again
        # Two failed attempts, then one delivery of each notification: nothing twice.
        assert [r.status for r in receiver.requests] == [500, 500, 200, 200]
        assert receiver.requests[0].body == receiver.requests[2].body
        # Not asserted (no timing in pass/fail tests): task sent to first attempt received.
        print(f"task sent -> first webhook attempt: {receiver.requests[0].at - sent:.3f} s")

    shown = (await api.get(f"/monitor/alerts/incidents/{incident['id']}")).json()["data"]
    assert shown["incident"]["state"] == "resolved"
    states = sorted(
        (d["status"], d["state"], d["attempts"]) for d in shown["incident"]["deliveries"]
    )
    assert states == [("firing", "delivered", 3), ("resolved", "delivered", 1)]
    listed = (await api.get("/monitor/alerts/incidents", params={"state": "resolved"})).json()
    assert [i["id"] for i in listed["data"]["incidents"]] == [incident["id"]]


async def test_killed_worker_fires_worker_offline(
    replicas: Replicas, api: httpx.AsyncClient, worker: ServiceProcess
) -> None:
    async with receiving() as receiver, replicas():
        await webhook_rule(api, receiver, "worker_offline", {"worker": "alerts-*"}, {"seconds": 1})
        await asyncio.sleep(1.0)  # a heartbeat or two seen while it is alive: nothing fires
        assert receiver.requests == []
        worker.kill()
        (firing,) = await receiver.wait_for(1, timeout=60)
        body = verify(firing)
        assert body["status"] == "firing" and body["rule"]["kind"] == "worker_offline"
        assert body["incident"]["key"].startswith("alerts-")


async def test_a_task_left_running_on_a_killed_worker_fires_stalled(
    replicas: Replicas, api: httpx.AsyncClient, worker: ServiceProcess, celery_client: Celery
) -> None:
    """A task runs past the rule's limit (stalled fires), then its worker dies with kill -9
    (worker offline fires): no terminal event ever comes, so stalled never resolves."""
    async with receiving() as receiver, replicas():
        await webhook_rule(api, receiver, "stalled", {"name": "demo.sleep"}, {"seconds": 2})
        await webhook_rule(api, receiver, "worker_offline", {"worker": "alerts-*"}, {"seconds": 1})
        celery_client.send_task("demo.sleep", args=[300])
        (stalled,) = await receiver.wait_for(1, timeout=60)
        body = verify(stalled)
        assert body["status"] == "firing" and body["rule"]["kind"] == "stalled"
        assert body["incident"]["key"] == "demo.sleep"
        worker.kill()
        (_, offline) = await receiver.wait_for(2, timeout=60)
        assert verify(offline)["rule"]["kind"] == "worker_offline"
        await asyncio.sleep(3.0)  # a (wrong) resolution of the stalled task would come by now
        kinds = [(verify(r)["rule"]["kind"], verify(r)["status"]) for r in receiver.requests]
        assert kinds == [("stalled", "firing"), ("worker_offline", "firing")]


async def test_a_silence_keeps_the_notification_back(
    replicas: Replicas, api: httpx.AsyncClient, worker: ServiceProcess, celery_client: Celery
) -> None:
    async with receiving() as receiver:
        _, rule = await webhook_rule(api, receiver, "task_failed", {"name": "demo.add"}, {})
        until = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        await created(
            api, "/monitor/alerts/silences", {"rule": rule, "key": "demo.add", "until": until},
            "silence",
        )  # fmt: skip
        async with replicas():
            celery_client.send_task("demo.add", args=["text", 1])
            async with asyncio.timeout(30):
                while not (await api.get("/monitor/alerts/incidents")).json()["data"]["incidents"]:
                    await asyncio.sleep(0.2)
            await asyncio.sleep(1.5)
            assert receiver.requests == []  # opened, but silenced
            celery_client.send_task("demo.add", args=[1, 2])
            async with asyncio.timeout(30):
                while not (
                    await api.get("/monitor/alerts/incidents", params={"state": "resolved"})
                ).json()["data"]["incidents"]:
                    await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)
        assert receiver.requests == []  # nor its resolution
