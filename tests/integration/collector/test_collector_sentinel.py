"""The collector finds the Redis master through Sentinel, as kombu's ``sentinel://`` does."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tasktrail_collector.bootstrap import bootstrap
from tasktrail_collector.settings import Settings
from tasktrail_devstack.processes import ServiceProcess, find_binary
from tasktrail_devstack.servers import free_port

from tests.integration.collector.support import (
    publish_steadily,
    stream_ids,
    unique_messages,
    wait_subscribers,
)


async def test_a_sentinel_url_leads_to_the_master(
    redis_url: str, fresh_nats_url: str, tmp_path: Path
) -> None:
    master_port = redis_url.rsplit(":", 1)[1].split("/")[0]
    port = free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\n"
        f"sentinel monitor events 127.0.0.1 {master_port} 1\n"
    )
    sentinel = ServiceProcess(
        "sentinel",
        [find_binary("redis-server"), str(config), "--sentinel"],
        log_path=tmp_path / "sentinel.log",
    )
    with sentinel:
        settings = Settings(
            broker_url=f"sentinel://127.0.0.1:1;sentinel://127.0.0.1:{port}/2",
            collector_sentinel_master="events",
            nats_url=fresh_nats_url,
            collector_spool_dir=str(tmp_path / "spool"),
            collector_health_port=0,
        )
        collector = await bootstrap(settings)
        stop = asyncio.Event()
        task = asyncio.create_task(collector.run(stop))
        try:
            await wait_subscribers(redis_url, 1)
            messages = [
                (channel.replace("/0.", "/2.", 1), payload)
                for channel, payload in unique_messages(500)
            ]
            await publish_steadily(redis_url, messages, 5000)
            ids = await stream_ids(fresh_nats_url, expect=len(messages))
            assert len(set(ids)) == len(messages)
            assert await collector.readiness() == {"broker": True, "nats": True}
        finally:
            stop.set()
            await task
