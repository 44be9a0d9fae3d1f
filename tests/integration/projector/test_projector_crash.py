"""kill -9 the projector process mid-stream, restart it: the read models equal a clean run's."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from tasktrail_shared import counts, mongo

from tests.integration.projector import support
from tests.integration.projector.support import Doc

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
    assert totals(actual) == recount(actual)  # and the counters are exact
