"""Queue depths end to end: a real Celery worker (-E) consuming ``celery`` on a real Redis
broker, tasks sent to a queue nobody consumes, the collector, control measuring the queues
into JetStream, the projector folding them, the API serving ``/monitor/queues`` and purging,
and a notifier firing ``queue_length`` to a local webhook receiver, then resolving it once
the queue is purged.

The unconsumed queue is named by no worker and no setting: control finds it in the task
documents (the projector's counters), as it would a queue a deploy forgot to give a worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient
from tasktrail_control.bootstrap import Wired, bootstrap
from tasktrail_control.settings import Settings
from tasktrail_devstack.processes import ServiceProcess

from tests.integration.api.support import projecting
from tests.integration.notifier.conftest import APP
from tests.integration.notifier.receivers import receiving
from tests.integration.notifier.test_notifier_celery import (
    notifier,
    verify,
    webhook_rule,
)

ORPHAN = "orphaned-work"
THRESHOLD = 3
SENT = 5


@contextlib.asynccontextmanager
async def control(
    broker_url: str, nats_url: str, mongo_url: str, mongo_db: str
) -> AsyncIterator[Wired]:
    settings = Settings(
        broker_url=broker_url, nats_url=nats_url, mongo_url=mongo_url, mongo_db=mongo_db, app=APP,
        control_health_port=0, control_queue_interval=0.5,
    )  # fmt: skip
    wired = await bootstrap(settings)
    await wired.bus.serve(settings.app, wired.control.handle)
    measuring = asyncio.Event()
    async with asyncio.TaskGroup() as group:
        group.create_task(wired.sampler.run(measuring))
        try:
            yield wired
        finally:
            measuring.set()  # the sampler returns, and the group with it
    await wired.bus.close()
    await wired.counted.close()
    wired.remote.close()


async def queues_until(
    client: httpx.AsyncClient, holds: Any, timeout: float = 60
) -> dict[str, Any]:
    """The queues of ``/monitor/queues`` by name, once ``holds`` says they are as awaited."""
    async with asyncio.timeout(timeout):
        while True:
            answer = await client.get("/monitor/queues")
            assert answer.status_code == 200, answer.text
            shown = {q["queue"]: q for q in answer.json()["data"]["queues"]}
            if holds(shown):
                return shown
            await asyncio.sleep(0.2)


async def metrics_until(
    client: httpx.AsyncClient, holds: Any, timeout: float = 60
) -> dict[tuple[str, str], float]:
    """``/metrics`` samples summed by (name, queue_name), once ``holds`` says so."""
    async with asyncio.timeout(timeout):
        while True:
            answer = await client.get("/metrics")
            assert answer.status_code == 200, answer.text
            found: dict[tuple[str, str], float] = {}
            for family in text_string_to_metric_families(answer.text):
                for sample in family.samples:
                    key = (sample.name, sample.labels.get("queue_name", ""))
                    found[key] = found.get(key, 0) + sample.value
            if holds(found):
                return found
            await asyncio.sleep(0.3)


async def test_a_growing_queue_fires_queue_length_and_resolves_once_purged(
    broker: str,
    fresh_nats_url: str,
    mongo_url: str,
    mongo_db: str,
    api: httpx.AsyncClient,
    worker: ServiceProcess,
    celery_client: Celery,
) -> None:
    celery_client.conf.task_send_sent_event = True  # the queue is known from its tasks
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    db = client[mongo_db]
    async with (
        receiving() as receiver,
        projecting(fresh_nats_url, "TASKTRAIL", mongo_url, db, APP),
        control(broker, fresh_nats_url, mongo_url, mongo_db),
        notifier(fresh_nats_url, mongo_url, mongo_db),
    ):
        _, rule = await webhook_rule(
            api, receiver, "queue_length", {"queue": "orphan*"}, {"threshold": THRESHOLD}
        )
        # The worker's own queue is measured (active_queues), and stays empty.
        await queues_until(api, lambda q: "celery" in q)
        for n in range(SENT):
            celery_client.send_task("demo.add", args=[n, n], queue=ORPHAN)
        shown = await queues_until(api, lambda q: q.get(ORPHAN, {}).get("depth") == SENT)
        orphan = shown[ORPHAN]
        assert orphan["app"] == APP and orphan["trend"][-1]["depth"] == SENT
        assert orphan["age"] is not None and orphan["measured_at"].endswith("Z")
        assert shown["celery"]["depth"] == 0

        # /metrics says what the read models say: the queue's depth, and its tasks sent.
        listed = await api.get("/monitor/tasks", params={"queue": ORPHAN})
        assert listed.json()["data"]["count"] == SENT
        metrics = await metrics_until(
            api, lambda m: m.get(("celery_task_sent_total", ORPHAN)) == SENT
        )
        assert metrics[("celery_queue_length", ORPHAN)] == SENT

        (firing,) = await receiver.wait_for(1)
        body = verify(firing)
        assert body["status"] == "firing"
        assert body["rule"] == {"id": rule, "name": "queue_length rule", "kind": "queue_length"}
        assert body["incident"]["key"] == ORPHAN and body["incident"]["app"] == APP

        purged = await api.post("/monitor/queues/purge", json={"queue": ORPHAN, "app": APP})
        assert purged.status_code == 200, purged.text
        assert purged.json()["data"]["result"] == SENT
        (_, resolved) = await receiver.wait_for(2)
        again = verify(resolved)
        assert again["status"] == "resolved"
        assert again["incident"]["id"] == body["incident"]["id"]
        await queues_until(api, lambda q: q[ORPHAN]["depth"] == 0)
    await client.close()
    assert [r.json()["status"] for r in receiver.requests] == ["firing", "resolved"]
