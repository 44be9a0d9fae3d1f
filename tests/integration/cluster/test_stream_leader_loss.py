"""Losing a node: three ``nats-server`` processes as one JetStream cluster, the stream on all
three (R3). Under a steady load from a real collector, the stream's leader is killed with
kill -9: a new leader takes over, and every event reaches the read models exactly once.

What makes it so: the collector (given the cluster's seed list) fails over to a surviving
server and sends again whatever was in flight; JetStream drops the copies it already had by
``Nats-Msg-Id``; the projector re-binds its durable consumer (itself replicated) and folds
whatever comes back idempotently.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from pathlib import Path

import nats
from nats.errors import Error as NatsError
from tasktrail_devstack.servers import NatsCluster
from tasktrail_shared import mongo
from tasktrail_shared.celery_wire import decode_redis_envelope

from tests.integration.collector import support as collector_support
from tests.integration.projector.support import (
    projector_process,
    read,
    settings_for,
    wait_drained,
)

APP = "failover"
MESSAGES = 4_500
"""About 4,000 tasks (a task-sent message each, task.multi messages of 24 events)."""
PER_SECOND = 300
"""15 s of load: JetStream's raft elects a new leader within its election timeout (4-9 s)."""


def task_events(messages: list[tuple[str, bytes]]) -> Counter[str]:
    """How many events each task has in ``messages`` (kombu envelopes, as on Redis)."""
    counts: Counter[str] = Counter()
    for _, payload in messages:
        body = decode_redis_envelope(payload)
        for event in body if isinstance(body, list) else [body]:
            if str(event["type"]).startswith("task-"):
                counts[str(event["uuid"])] += 1
    return counts


async def stream_leader(servers: list[str], stream: str) -> str | None:
    """The server name of the stream's leader, or ``None`` while there is none."""
    try:
        nc = await nats.connect(servers, connect_timeout=2, max_reconnect_attempts=1)
    except (NatsError, OSError, TimeoutError):
        return None
    try:
        info = await nc.jetstream(timeout=0.5).stream_info(stream)
        return info.cluster.leader if info.cluster else None
    except (NatsError, TimeoutError):
        return None
    finally:
        with contextlib.suppress(NatsError):
            await nc.close()


async def wait_new_leader(servers: list[str], stream: str, old: str, timeout: float = 30) -> str:
    async with asyncio.timeout(timeout):
        while (leader := await stream_leader(servers, stream)) in (None, old):
            await asyncio.sleep(0.05)
    assert leader is not None
    return leader


async def test_killing_the_stream_leader_under_load_loses_and_doubles_nothing(
    redis_url: str, mongo_url: str, mongo_db: str, tmp_path: Path
) -> None:
    await collector_support.wait_subscribers(redis_url, 0)
    messages = collector_support.unique_messages(MESSAGES)
    with NatsCluster(tmp_path / "nats") as cluster:
        settings = settings_for(
            cluster.url,
            mongo_url,
            mongo_db,
            "TASKTRAIL",
            app=APP,
            stream_replicas=3,
            projector_ack_wait=2,
        )
        env = {"broker_url": redis_url, "nats_url": cluster.url, "app": APP}
        with (
            collector_support.CollectorProcess(
                "collector", tmp_path, stream_replicas="3", **env
            ) as collector,
            projector_process(settings, tmp_path / "projector.log") as projector,
        ):
            collector.wait_ready()
            load = asyncio.create_task(
                collector_support.publish_steadily(redis_url, messages, PER_SECOND)
            )
            await asyncio.sleep(2)
            leader = await stream_leader(cluster.urls, settings.stream)
            assert leader is not None
            assert not load.done()
            killed_at = time.monotonic()
            assert cluster.server(leader).kill() == -9
            survivors = [s.url for s in cluster.servers if s.name != leader]
            new_leader = await wait_new_leader(survivors, settings.stream, leader)
            failover = time.monotonic() - killed_at
            still_loading = not load.done()
            await load
            ids = await collector_support.stream_ids(survivors[0], expect=len(messages))
            await wait_drained(settings.model_copy(update={"nats_url": survivors[0]}))
            _, body = collector.health()
            collector.check_running()
            projector.check_running()
    print(
        f"stream leader {leader} killed; {new_leader} led after {failover:.2f} s"
        f" ({'under' if still_loading else 'after the'} load)"
    )

    assert len(ids) == len(set(ids)) == len(messages)  # in the stream once each
    assert set(ids) == collector_support.ids_of(messages)
    assert body["counters"]["received"] == len(messages)
    history = await read(mongo_url, mongo_db, mongo.TASK_EVENTS)
    assert set(history) == set(ids)  # every message reached the history, under its own id
    per_task = Counter(e["uuid"] for doc in history.values() for e in doc["events"])
    expected = task_events(messages)
    assert per_task == expected  # each event of each task once
    tasks = await read(mongo_url, mongo_db, mongo.TASKS)
    assert set(tasks) == set(expected)
    finished = {uuid for uuid, count in expected.items() if count == 4}
    assert len(finished) > 0.9 * len(expected)  # sent, received, started, succeeded
    assert {uuid for uuid, task in tasks.items() if task["state"] == "SUCCESS"} == finished
