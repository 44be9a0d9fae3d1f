"""kill -9 the projector process mid-stream, restart it: the read models equal a clean run's."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tasktrail_shared import mongo

from tests.integration.projector.support import (
    clean_run,
    position,
    projector_process,
    publish,
    read_models,
    settings_for,
    settle,
    traffic,
    wait_drained,
)


async def test_kill_9_mid_stream_then_restart_converges_to_a_clean_run(
    fresh_nats_url: str, mongo_url: str, mongo_db: str, tmp_path: Path
) -> None:
    settings = settings_for(
        fresh_nats_url,
        mongo_url,
        mongo_db,
        "TASKTRAIL",
        projector_batch_size=40,
        projector_ack_wait=2,  # what the killed process had fetched comes back after 2 s
    )
    total = await publish(settings, traffic())
    first = projector_process(settings, tmp_path / "projector.log").start()
    try:
        async with asyncio.timeout(60):
            while await position(mongo_url, mongo_db) < total // 3:
                first.check_running()
                await asyncio.sleep(0.05)
    finally:
        assert first.kill() == -9  # as a crash would: no shutdown, nothing flushed
    assert await position(mongo_url, mongo_db) < total  # it really was cut short
    with projector_process(settings, tmp_path / "projector.log"):
        await wait_drained(settings)
    await settle(settings)

    expected = await clean_run(settings)
    assert len(expected[mongo.TASKS]) > 500
    assert await read_models(mongo_url, mongo_db) == expected
