"""kill -9 the projector process mid-stream, restart it: the read models equal a clean run's."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from tasktrail_shared import counts, mongo

from tests.integration.projector.support import (
    Doc,
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

Models = dict[str, dict[Any, Doc]]


def recount(models: Models) -> Counter[tuple[str, str]]:
    """Live tasks per cluster and state, straight from the task documents."""
    tasks = models[mongo.TASKS].values()
    return Counter((d["app"], d["state"]) for d in tasks if not d["deleted"])


def totals(models: Models) -> Counter[tuple[str, str]]:
    """The same, as the counters have it."""
    found: Counter[tuple[str, str]] = Counter()
    for doc in models[mongo.COUNTS].values():
        if doc["level"] == counts.TOTAL:
            for (d, _, state), cell in counts.from_rows(doc["rows"]).items():
                found[(doc["app"], state)] += cell.n if d == counts.ALL else 0
    return +found


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
    crashed = await read_models(mongo_url, mongo_db)
    assert crashed == expected
    assert totals(crashed) == recount(crashed)  # and the counters are exact
