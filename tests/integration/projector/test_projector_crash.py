"""kill -9 the projector process mid-stream, restart it: the read models equal a clean run's."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tasktrail_shared import mongo

from tests.integration.projector import support


async def test_kill_9_mid_stream_then_restart_converges_to_a_clean_run(
    fresh_nats_url: str, mongo_url: str, mongo_db: str, tmp_path: Path
) -> None:
    # what the killed process had fetched comes back after 2 s
    settings = support.crash_settings(fresh_nats_url, mongo_url, mongo_db, ack_wait=2)
    total = await support.publish(settings, support.traffic())
    first = support.projector_process(settings, tmp_path / "projector.log").start()
    try:
        async with asyncio.timeout(60):
            while await support.position(mongo_url, mongo_db) < total // 3:
                first.check_running()
                await asyncio.sleep(0.05)
    finally:
        assert first.kill() == -9  # as a crash would: no shutdown, nothing flushed
    assert await support.position(mongo_url, mongo_db) < total  # it really was cut short
    with support.projector_process(settings, tmp_path / "projector.log"):
        await support.wait_drained(settings)
    actual, expected = await support.settled_and_clean(settings)
    assert len(expected[mongo.TASKS]) > 500
    assert actual == expected
