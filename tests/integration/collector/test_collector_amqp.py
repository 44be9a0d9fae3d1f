"""The collector on RabbitMQ: a durable queue, acks after JetStream, replicas sharing it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from kombu.connection import Connection
from kombu.entity import Exchange
from kombu.messaging import Producer
from tasktrail_collector.bootstrap import bootstrap
from tasktrail_collector.service import Collector
from tasktrail_collector.settings import Settings
from tasktrail_shared.celery_wire import decode_celery_events
from tasktrail_shared.stream_message import StreamMessage, content_id

from tests.integration.collector.rabbitmq import RabbitMQServer, rabbitmq_binary
from tests.integration.collector.support import stream_ids

pytestmark = pytest.mark.skipif(
    rabbitmq_binary() is None, reason="no rabbitmq-server binary on PATH"
)


@pytest.fixture(scope="module")
def amqp_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with RabbitMQServer(tmp_path_factory.mktemp("rabbitmq")) as server:
        yield server.url


def event(kind: str = "task-sent", **fields: object) -> dict[str, object]:
    return {"type": kind, "hostname": "w@h", "timestamp": 1.5, "uuid": str(uuid.uuid4()), **fields}


def publish(url: str, items: list[tuple[str, bytes, dict[str, str]]]) -> None:
    """Publish as Celery's event dispatcher does: JSON bodies on the ``celeryev`` exchange."""
    with Connection(url) as conn:
        producer = Producer(conn.channel(), exchange=Exchange("celeryev", type="topic"))
        for routing_key, body, headers in items:
            producer.publish(
                body,
                routing_key=routing_key,
                content_type="application/json",
                content_encoding="utf-8",
                headers=headers,
                delivery_mode=1,
            )


def events(count: int) -> list[tuple[str, bytes, dict[str, str]]]:
    return [("task.sent", json.dumps(event()).encode(), {}) for _ in range(count)]


@contextlib.asynccontextmanager
async def collector(
    amqp_url: str, nats_url: str, spool: Path, **extra: object
) -> AsyncIterator[Collector]:
    options: dict[str, object] = {"collector_queue": "tasktrail.test." + spool.name, **extra}
    settings = Settings(
        broker_url=amqp_url,
        nats_url=nats_url,
        app="rabbit",
        collector_spool_dir=str(spool),
        **options,  # type: ignore[arg-type]
    )
    running = await bootstrap(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(running.run(stop))
    try:
        async with asyncio.timeout(20):
            while not (await running.readiness())["broker"]:
                await asyncio.sleep(0.05)
        yield running
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_events_sent_while_the_collector_is_down_wait_in_its_queue(
    amqp_url: str, fresh_nats_url: str, tmp_path: Path
) -> None:
    async with collector(amqp_url, fresh_nats_url, tmp_path):
        pass  # declares the durable queue, then stops
    compressed = zlib.compress(json.dumps([event("task-received"), event("task-started")]).encode())
    items = [
        *events(300),
        ("task.multi", compressed, {"compression": "application/x-gzip"}),
        ("task.sent", b"this is not json", {}),
    ]
    await asyncio.to_thread(publish, amqp_url, items)
    async with collector(amqp_url, fresh_nats_url, tmp_path) as running:
        async with asyncio.timeout(30):
            while running.counters.published < 301 or running.counters.dead_lettered < 1:
                await asyncio.sleep(0.05)
    ids = await stream_ids(fresh_nats_url, expect=301)
    expected = [content_id(body) for _, body, _ in items[:-2]]
    assert sorted(ids) == sorted([*expected, content_id(zlib.decompress(compressed))])

    nc = await nats.connect(fresh_nats_url)
    try:
        js = nc.jetstream()
        msg = await js.get_msg("TASKTRAIL", 301)
        assert msg.data is not None
        envelope = StreamMessage.parse(msg.headers, msg.data)
        assert msg.data == zlib.decompress(compressed)  # kombu decompresses on receipt
        assert envelope.type == "celery.task.multi"
        assert [e["type"] for e in decode_celery_events(envelope)] == [
            "task-received",
            "task-started",
        ]
        first = await js.get_msg("TASKTRAIL", 1)
        assert first.data is not None
        assert decode_celery_events(StreamMessage.parse(first.headers, first.data))[0]["type"] == (
            "task-sent"
        )
        dead = await js.get_msg("TASKTRAIL_DEADLETTER", 1)
        assert "JSON" in (dead.headers or {})["tasktrail-reason"]
    finally:
        await nc.close()


async def test_messages_are_acknowledged_only_once_jetstream_holds_them(
    amqp_url: str, tmp_path: Path
) -> None:
    from tasktrail_devstack.servers import NatsServer

    with NatsServer(tmp_path / "nats") as server:
        url = server.url
        async with collector(
            amqp_url, url, tmp_path / "spool", collector_drain_timeout=1
        ) as running:
            server.stop()  # NATS goes away: nothing can be acked to the broker now
            await asyncio.to_thread(publish, amqp_url, events(200))
            async with asyncio.timeout(20):
                while running.counters.received < 200:
                    await asyncio.sleep(0.05)
            assert running.counters.published == 0
        # The collector stopped with 200 unacknowledged deliveries: RabbitMQ keeps them.
        server.restart()  # the same data and address
        async with collector(amqp_url, url, tmp_path / "spool") as running:
            ids = await stream_ids(url, expect=200)
    assert len(ids) == len(set(ids)) == 200


async def test_replicas_share_the_queue(amqp_url: str, fresh_nats_url: str, tmp_path: Path) -> None:
    queue = {"collector_queue": "tasktrail.test.shared", "collector_prefetch": 50}
    async with (
        collector(amqp_url, fresh_nats_url, tmp_path / "a", **queue) as a,
        collector(amqp_url, fresh_nats_url, tmp_path / "b", **queue) as b,
    ):
        await asyncio.to_thread(publish, amqp_url, events(2000))
        ids = await stream_ids(fresh_nats_url, expect=2000)
    assert len(ids) == len(set(ids)) == 2000
    assert a.counters.received > 0 and b.counters.received > 0
    assert a.counters.received + b.counters.received == 2000
