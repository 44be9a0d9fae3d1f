"""Two projector processes share the durable consumer; one is killed with kill -9 in the middle
of a batch while the other keeps going, then comes back: the read models equal a clean run's.

The killed replica's fetched but unacknowledged messages go to whichever replica asks next once
``ack_wait`` has passed; the survivor meanwhile writes the same tasks, so both meet on the
documents' versions (optimistic concurrency) and on the history's keys.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import nats
from tasktrail_shared import mongo

from tests.integration.projector import support


async def redeliveries(nats_url: str, stream: str, durable: str) -> int:
    """Deliveries by the durable consumer beyond one per stream message: each delivery,
    a repeated one too, takes a consumer sequence of its own."""
    nc = await nats.connect(nats_url)
    try:
        delivered = (await nc.jetstream().consumer_info(stream, durable)).delivered
        assert delivered.consumer_seq is not None and delivered.stream_seq is not None
        return int(delivered.consumer_seq - delivered.stream_seq)
    finally:
        await nc.close()


async def test_one_of_two_replicas_killed_mid_batch_converges_to_a_clean_run(
    fresh_nats_url: str, mongo_url: str, mongo_db: str, tmp_path: Path
) -> None:
    # what the killed replica had fetched comes back after 3 s
    settings = support.crash_settings(fresh_nats_url, mongo_url, mongo_db, ack_wait=3)
    total = await support.publish(settings, support.traffic(3000))
    debug = {"TASKTRAIL_LOG_LEVEL": "DEBUG"}  # a line per batch
    doomed = support.projector_process(settings, tmp_path / "doomed.log", **debug)
    with support.projector_process(settings, tmp_path / "survivor.log", **debug) as survivor:
        doomed.start()
        try:
            for replica in (doomed, survivor):  # both at work
                await asyncio.to_thread(replica.wait_log, "batch of", 60)
            while doomed.log_since_start().count("batch of") < 3:
                doomed.check_running()
                await asyncio.sleep(0.02)
        finally:
            assert doomed.kill() == -9  # mid-batch: it fetches the next batch as it acks one
        assert await support.position(mongo_url, mongo_db) < total  # cut short
        with support.projector_process(
            settings, tmp_path / "doomed.log"
        ):  # back, as a supervisor does
            await support.wait_drained(settings)
        survivor.check_running()
    # The killed replica held messages it had fetched but not acknowledged: they came again.
    assert await redeliveries(fresh_nats_url, settings.stream, settings.projector_durable) > 0
    actual, expected = await support.settled_and_clean(settings)
    assert len(expected[mongo.TASKS]) > 500
    assert actual == expected
