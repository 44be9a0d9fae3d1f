"""Streams are made to match the settings at start; what is not an event is dead-lettered."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path

import nats
import redis.asyncio as redis
from nats.js.api import StorageType, StoreCompression, StreamConfig
from tasktrail_collector.bootstrap import bootstrap
from tasktrail_collector.settings import Settings
from tasktrail_devstack.servers import redis_db

from tests.integration.collector.support import wait_subscribers

DAY = 86400


async def test_an_existing_stream_with_other_limits_is_brought_in_line(
    fresh_nats_url: str, redis_url: str, tmp_path: Path
) -> None:
    nc = await nats.connect(fresh_nats_url)
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(
            name="TASKTRAIL",
            subjects=["tasktrail.events.>"],
            storage=StorageType.FILE,
            max_age=1 * DAY,
            max_bytes=10_000_000,
            duplicate_window=30,
        )
    )
    settings = Settings(
        broker_url=redis_url,
        nats_url=fresh_nats_url,
        collector_spool_dir=str(tmp_path),
        stream_max_age_days=7,
    )
    collector = await bootstrap(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    try:
        async with asyncio.timeout(10):
            while len(await js.streams_info()) < 2:
                await asyncio.sleep(0.05)
        config = (await js.stream_info("TASKTRAIL")).config
        assert config.max_age == 7 * DAY
        assert config.max_bytes == -1
        assert config.duplicate_window == 120
        assert config.compression == StoreCompression.S2
        dead = (await js.stream_info("TASKTRAIL_DEADLETTER")).config
        assert dead.subjects == ["tasktrail.deadletter.>"]
        assert dead.storage == StorageType.FILE and dead.duplicate_window == 120
    finally:
        stop.set()
        await task
        await nc.close()


def _kombu(body: object, *, raw: bytes | None = None) -> bytes:
    encoded = base64.b64encode(raw if raw is not None else json.dumps(body).encode()).decode()
    return json.dumps(
        {
            "body": encoded,
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {},
            "properties": {"body_encoding": "base64", "delivery_tag": "x"},
        }
    ).encode()


GOOD = {"type": "task-sent", "hostname": "h", "timestamp": 1.0, "uuid": "u1"}
BAD = [
    ("/0.celeryev/task.sent", b"{not json at all", "not a kombu JSON envelope"),
    ("/0.celeryev/task.sent", _kombu(None, raw=b"{oops"), "not valid JSON"),
    ("/0.celeryev/task.sent", _kombu({"type": "task-sent", "timestamp": 1}), "hostname"),
    ("/0.celeryev/task.exploded", _kombu(GOOD), "unknown event type 'task.exploded'"),
    ("/0.celeryev/task.sent", _kombu({**GOOD, "args": "x" * 300_000}), "exceeds 200000"),
]


async def test_messages_that_are_not_events_go_to_the_dead_letters_with_a_reason(
    fresh_nats_url: str, redis_url: str, tmp_path: Path
) -> None:
    settings = Settings(
        broker_url=redis_db(redis_url, 0),
        nats_url=fresh_nats_url,
        app="dl",
        collector_spool_dir=str(tmp_path),
        collector_validate_every=1,
        collector_max_message_bytes=200_000,
    )
    collector = await bootstrap(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    client = redis.from_url(redis_url)
    nc = await nats.connect(fresh_nats_url)
    try:
        await wait_subscribers(redis_url, 1)
        for channel, payload, _ in BAD:
            await client.publish(channel, payload)
        await client.publish("/0.celeryev/task.sent", _kombu(GOOD))
        async with asyncio.timeout(20):
            while collector.counters.published < 1 or collector.counters.dead_lettered < 5:
                await asyncio.sleep(0.05)
        js = nc.jetstream()
        async with asyncio.timeout(20):
            while (await js.stream_info("TASKTRAIL_DEADLETTER")).state.messages < len(BAD):
                await asyncio.sleep(0.05)
        reasons = []
        for seq in range(1, len(BAD) + 1):
            msg = await js.get_msg("TASKTRAIL_DEADLETTER", seq)
            assert msg.subject == "tasktrail.deadletter.dl"
            reasons.append((msg.headers or {})["tasktrail-reason"])
        for (_, _, expected), reason in zip(BAD, reasons, strict=True):
            assert expected in reason
        assert (await js.stream_info("TASKTRAIL")).state.messages == 1
        assert collector.stats()["dead_lettered"] == len(BAD)
    finally:
        stop.set()
        await task
        await client.aclose()
        await nc.close()
