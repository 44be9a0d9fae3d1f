"""Two collectors on one Redis: one is killed mid-way, and the stream still has everything once.

Redis pub/sub buffers nothing for an absent subscriber; what makes Redis capture lossless is
two replicas subscribed at once, whose identical copies JetStream drops by content id.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.integration.collector import support


async def test_killing_one_of_two_replicas_under_load_loses_nothing(
    redis_url: str, fresh_nats_url: str, tmp_path: Path
) -> None:
    await support.wait_subscribers(redis_url, 0)
    env = {"broker_url": redis_url, "nats_url": fresh_nats_url, "app": "ha"}
    messages = support.unique_messages(12_000)
    with (
        support.CollectorProcess("c1", tmp_path, **env) as c1,
        support.CollectorProcess("c2", tmp_path, **env) as c2,
    ):
        c1.wait_ready()
        c2.wait_ready()
        load = asyncio.create_task(support.publish_steadily(redis_url, messages, 2_000))
        await asyncio.sleep(2.5)
        c1.kill()  # SIGKILL: no drain, no goodbye
        await load
        ids = await support.stream_ids(fresh_nats_url, expect=len(messages))
        _, body = c2.health()
        assert body["counters"]["received"] == len(messages)
    assert len(ids) == len(set(ids)) == len(messages)
    assert set(ids) == support.ids_of(messages)
