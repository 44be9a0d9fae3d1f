"""NATS away for 30 s under steady load: the collector buffers, spills to disk, then replays."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tasktrail_devstack.servers import NatsServer, redis_db

from tests.integration.collector import support

OUTAGE = 30.0


async def test_an_outage_of_nats_loses_and_duplicates_nothing(
    redis_url: str, tmp_path: Path
) -> None:
    messages = support.unique_messages(24_000)
    with NatsServer(tmp_path / "nats") as server:
        url = server.url
        collector = support.CollectorProcess(
            "outage",
            tmp_path,
            broker_url=redis_db(redis_url, 7),
            nats_url=url,
            app="outage",
            collector_memory_buffer_bytes=str(2 * 1024 * 1024),
            collector_spool_segment_bytes=str(1024 * 1024),
        )
        with collector:
            collector.wait_ready()
            await support.wait_subscribers(redis_url, 1)
            load = asyncio.create_task(
                support.publish_steadily(
                    redis_url, [(c.replace("/0.", "/7.", 1), p) for c, p in messages], 500
                )
            )
            await asyncio.sleep(5)
            server.stop()
            stopped = time.monotonic()
            await asyncio.sleep(3)
            status, body = collector.health()
            assert status == 503 and body["checks"]["nats"] is False
            await asyncio.sleep(OUTAGE - (time.monotonic() - stopped))
            _, body = collector.health()
            assert body["counters"]["spooled"] > 0 and body["counters"]["backlog"] > 0
            server.restart()  # the same data and address
            await load
            ids = await support.stream_ids(url, expect=len(messages), timeout=120)
            _, body = collector.health()
            assert body["counters"]["backlog"] == 0
    assert len(ids) == len(set(ids)) == len(messages)
    assert set(ids) == support.ids_of(messages)


async def test_sigterm_drains_and_what_cannot_be_sent_is_replayed_by_the_next_start(
    redis_url: str, tmp_path: Path
) -> None:
    messages = support.unique_messages(3_000)
    on_db8 = [(c.replace("/0.", "/8.", 1), p) for c, p in messages]
    with NatsServer(tmp_path / "nats") as server:
        url = server.url
        env = {
            "broker_url": redis_db(redis_url, 8),
            "nats_url": url,
            "app": "restart",
            "collector_drain_timeout": "2",
            "collector_memory_buffer_bytes": str(256 * 1024),
        }
        with support.CollectorProcess("first", tmp_path, **env) as first:
            first.wait_ready()
            await support.wait_subscribers(redis_url, 1)
            await support.publish_steadily(redis_url, on_db8[:1000], 2000)  # these are published
            await support.stream_ids(url, expect=1000)
            server.stop()
            await support.publish_steadily(redis_url, on_db8[1000:], 2000)  # these are buffered
            first.wait_until(
                "holding everything", lambda: first.health()[1]["counters"]["received"] == 3000, 10
            )
            assert first.stop(timeout=20) == 0  # SIGTERM: drain (NATS is away), then spool
        assert "messages left in the spool" in first.log_since_start()
        server.restart()  # the same data and address
        with support.CollectorProcess("first", tmp_path, **env) as again:  # same spool directory
            again.wait_ready()
            ids = await support.stream_ids(url, expect=len(messages))
    assert len(ids) == len(set(ids)) == len(messages)
    assert set(ids) == support.ids_of(messages)
