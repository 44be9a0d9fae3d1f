"""The collector against a real Redis broker and a real JetStream: every message, unchanged."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
import redis.asyncio as redis
from nats.aio.msg import Msg
from tasktrail_collector.bootstrap import bootstrap
from tasktrail_collector.service import Collector
from tasktrail_collector.settings import Settings
from tasktrail_devstack.servers import redis_db
from tasktrail_shared.stream_message import content_id

from tests.wire import recorded_messages

DB = 5  # channels are /<db>.celeryev/<key>; a non-zero db proves the prefix is honoured


@contextlib.asynccontextmanager
async def running_collector(redis_url: str, nats_url: str, spool: Path) -> AsyncIterator[Collector]:
    settings = Settings(
        broker_url=redis_db(redis_url, DB),
        nats_url=nats_url,
        app="scan",
        collector_health_port=0,
        collector_spool_dir=str(spool),
    )
    collector = await bootstrap(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(collector.run(stop))
    client = redis.from_url(settings.broker_url)
    try:
        async with asyncio.timeout(10):
            while await client.execute_command("PUBSUB", "NUMPAT") < 1:
                await asyncio.sleep(0.05)
        yield collector
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await client.aclose()


async def _publish_recording(redis_url: str) -> int:
    client = redis.from_url(redis_url)
    messages = recorded_messages()
    for message in messages:
        channel = message.channel.replace("/0.", f"/{DB}.", 1)
        await client.publish(channel, message.payload)
    await client.aclose()
    return len(messages)


async def _wait_for(predicate: object, timeout: float = 20) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.05)


async def test_every_broker_message_lands_once_byte_for_byte(
    redis_url: str, fresh_nats_url: str, tmp_path: Path
) -> None:
    async with running_collector(redis_url, fresh_nats_url, tmp_path) as collector:
        sent = await _publish_recording(redis_url)
        await _wait_for(lambda: collector.counters.published == sent)
        # The same bytes again (a second collector replica, a re-publish): all duplicates.
        await _publish_recording(redis_url)
        await _wait_for(lambda: collector.counters.duplicates == sent)

    nc = await nats.connect(fresh_nats_url)
    js = nc.jetstream()
    info = await js.stream_info("TASKTRAIL")
    assert info.state.messages == sent
    sub = await js.pull_subscribe("tasktrail.events.>", durable=None)
    stored: list[Msg] = []
    while len(stored) < sent:
        stored.extend(await sub.fetch(min(200, sent - len(stored)), timeout=5))
    await nc.close()

    recorded = recorded_messages()
    assert [m.data for m in stored] == [m.payload for m in recorded]
    for msg, original in zip(stored, recorded, strict=True):
        assert msg.headers is not None
        assert msg.headers["Nats-Msg-Id"] == content_id(original.payload)
        assert msg.headers["ce-type"] == f"celery.{original.routing_key}"
        assert msg.headers["ce-app"] == "scan"
        assert msg.subject == f"tasktrail.events.scan.celery.{original.routing_key}"


async def test_readiness_reports_both_dependencies(
    redis_url: str, fresh_nats_url: str, tmp_path: Path
) -> None:
    async with running_collector(redis_url, fresh_nats_url, tmp_path) as collector:
        assert await collector.readiness() == {"broker": True, "nats": True}


@pytest.mark.parametrize("url", ["nosuch://127.0.0.1:1//", "sqs://x"])
async def test_brokers_no_kombu_transport_handles_are_refused_at_start(
    url: str, fresh_nats_url: str, tmp_path: Path
) -> None:
    with pytest.raises(SystemExit, match="unsupported broker"):
        await bootstrap(
            Settings(broker_url=url, nats_url=fresh_nats_url, collector_spool_dir=str(tmp_path))
        )
