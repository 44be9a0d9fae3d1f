"""The projection loop over in-memory ports: batching, acks, races, poison and outages."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from tasktrail_projector.domain import tasks
from tasktrail_projector.domain.events import Observed, to_datetime
from tasktrail_projector.ports import StoreUnavailable, Write
from tasktrail_projector.service import Projector
from tasktrail_shared.mongo import CATALOG, CHECKPOINTS, DEAD_LETTERS, TASK_EVENTS, TASKS, WORKERS

from tests.unit.projector.builders import celery_message, deliveries
from tests.unit.projector.fakes import FakeClock, FakeDelivery, FakeSource, FakeStore
from tests.unit.projector.replay import fold
from tests.wire import recorded_stream_messages


def recorded_deliveries() -> list[FakeDelivery]:
    deliveries = []
    for seq, env in enumerate(recorded_stream_messages(), start=1):
        deliveries.append(FakeDelivery(env.nats_subject, env.headers(), env.data, seq))
    return deliveries


async def drain(projector: Projector) -> None:
    while await projector.step():
        pass


def public(docs: dict[Any, dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {k: {f: v for f, v in d.items() if f != "_v"} for k, d in docs.items()}


async def test_projects_the_recording_like_the_pure_fold(recorded: list[Observed]) -> None:
    deliveries = recorded_deliveries()
    store = FakeStore()
    projector = Projector(FakeSource(deliveries), store, batch_size=500)
    await drain(projector)
    expected_tasks, expected_workers = fold([recorded])
    assert public(store.docs(TASKS)) == expected_tasks
    assert public(store.docs(WORKERS)) == expected_workers
    assert all(d.acked for d in deliveries)
    history = store.docs(TASK_EVENTS).values()
    assert sum(len(h["events"]) for h in history) == sum(
        1 for o in recorded if o.type[:5] == "task-"
    )
    # one batch: one write per document, one bulk write per collection, no read at all
    names = {d["name"] for d in expected_tasks.values() if d["name"]}
    assert {d["name"] for d in store.docs(CATALOG).values()} == names
    written = len(expected_tasks) + len(expected_workers) + len(names)
    assert projector.stats.documents_written == written
    assert projector.stats.bulk_writes == 3 and projector.stats.loads == 0
    assert projector.stats.events == len(recorded)
    assert await store.marks("projector")
    assert store.docs(CHECKPOINTS)["projector"]["seq"] == len(deliveries)


async def test_small_batches_give_the_same_documents(recorded: list[Observed]) -> None:
    store = FakeStore()
    await drain(Projector(FakeSource(recorded_deliveries()), store, batch_size=7))
    expected_tasks, _ = fold([recorded])
    assert public(store.docs(TASKS)) == expected_tasks
    assert all(d["_v"] >= 1 for d in store.docs(TASKS).values())


async def test_malformed_message_is_dead_lettered_and_the_rest_projects() -> None:
    deliveries = recorded_deliveries()
    bad = FakeDelivery("tasktrail.events.scan.celery.task.sent", {"ce-id": "x"}, b"\xff junk", 999)
    deliveries.insert(10, bad)
    store = FakeStore()
    await drain(Projector(FakeSource(deliveries), store, batch_size=500))
    [letter] = store.docs(DEAD_LETTERS).values()
    assert letter["_id"] == 999 and "not a tasktrail stream message" in letter["reason"]
    assert letter["at"] == to_datetime(bad.time)  # the log's time: a rebuild writes the same
    assert letter["data"].endswith(" junk") and letter["headers"] == {"ce-id": "x"}
    assert all(d.acked for d in deliveries)
    assert len(store.docs(TASKS)) == 15


async def test_lost_race_reloads_and_keeps_both_replicas_events(
    recorded: list[Observed],
) -> None:
    """Another replica writes the same documents between our load and our write."""
    store = FakeStore()
    other = [o for o in recorded if o.type == "task-sent"]
    raced = False

    def rival(collection: str, writes: Sequence[Write]) -> None:
        nonlocal raced
        if collection != TASKS or raced:
            return
        raced = True
        docs = store.docs(TASKS)
        for uuid, change in tasks.group(other).items():
            held = docs.get(uuid)
            new = tasks.merge(held, uuid, change)
            if new is not None:
                docs[uuid] = {**new, "_v": (held["_v"] if held else 0) + 1}

    store.before_write = rival
    projector = Projector(FakeSource(recorded_deliveries()), store, batch_size=500)
    await drain(projector)
    assert raced and projector.stats.conflicts > 0
    assert public(store.docs(TASKS)) == fold([recorded])[0]


async def test_a_message_the_store_refuses_is_isolated() -> None:
    deliveries = recorded_deliveries()
    store = FakeStore(refuse=lambda doc: doc.get("args") == "(9, 9)")
    await drain(Projector(FakeSource(deliveries), store, batch_size=500))
    [letter] = store.docs(DEAD_LETTERS).values()
    assert "cannot project" in letter["reason"]
    assert all(d.acked for d in deliveries)
    assert len(store.docs(TASKS)) == 14  # everything but the refused task


async def test_outage_naks_the_batch_and_acks_nothing() -> None:
    deliveries = recorded_deliveries()
    store = FakeStore(down=True)
    with pytest.raises(StoreUnavailable):
        await Projector(FakeSource(deliveries), store, batch_size=10).step()
    assert [d.naked for d in deliveries] == [True] * 10 + [False] * (len(deliveries) - 10)
    assert not any(d.acked for d in deliveries)


async def test_run_backs_off_during_an_outage_and_stops_when_asked() -> None:
    clock = FakeClock()
    deliveries = recorded_deliveries()
    source = FakeSource(deliveries, clock=clock)
    store = FakeStore(outage=9)  # a batch makes one to three calls: 3 to 9 batches fail
    projector = Projector(source, store, retry_delay=0.01, clock=clock)
    stop = asyncio.Event()
    task = asyncio.create_task(projector.run(stop))
    await asyncio.wait_for(source.drained.wait(), 10)  # a give-up bound, not a measurement
    stop.set()
    await asyncio.wait_for(task, 10)
    assert clock.slept[:3] == [0.01, 0.02, 0.04]  # each failed batch waits twice as long
    assert len(store.docs(TASKS)) == 15 and all(d.acked for d in deliveries)


async def test_a_restarted_projector_guesses_new_and_recovers_from_wrong_guesses(
    recorded: list[Observed],
) -> None:
    """A fresh process has nothing cached: it inserts as if new, and the existing documents
    it hits are reloaded and folded; after a mostly wrong batch it loads first instead."""
    store = FakeStore()
    await drain(Projector(FakeSource(recorded_deliveries()), store, batch_size=500))
    before = public(store.docs(TASKS))
    again = Projector(FakeSource(recorded_deliveries()), store, batch_size=20)
    await drain(again)
    assert public(store.docs(TASKS)) == before
    assert again.stats.wrong_guesses > 0 and again.stats.documents_written == 0
    assert again.stats.loads >= again.stats.batches  # switched to loading first


async def test_cached_documents_need_no_read_between_batches(recorded: list[Observed]) -> None:
    store = FakeStore()
    projector = Projector(FakeSource(recorded_deliveries()), store, batch_size=5)
    await drain(projector)
    assert projector.stats.loads == 0 and projector.stats.conflicts == 0
    assert public(store.docs(TASKS)) == fold([recorded])[0]
    no_cache = Projector(FakeSource(recorded_deliveries()), FakeStore(), batch_size=5, cache_size=0)
    await drain(no_cache)
    assert no_cache.stats.wrong_guesses > 0  # a task's later events find it stored


async def test_client_task_sent_waits_briefly_for_the_workers_events() -> None:
    """A lone task-sent is held until the worker's events arrive (one write for both), or
    until its time is up; worker events are never held."""
    sent = {"type": "task-sent", "uuid": "a", "hostname": "client", "timestamp": 1.0}
    lone = {"type": "task-sent", "uuid": "b", "hostname": "client", "timestamp": 1.0}
    started = {"type": "task-started", "uuid": "a", "hostname": "w", "timestamp": 2.0}
    items = deliveries([celery_message("task.sent", sent), celery_message("task.sent", lone)])
    later = deliveries([celery_message("task.started", started)])
    later[0].seq = 3
    clock = FakeClock()
    source = FakeSource(items, clock=clock)
    store = FakeStore()
    projector = Projector(source, store, sent_hold=0.2, fetch_timeout=0.01, clock=clock)
    assert await projector.step() == 2 and store.docs(TASKS) == {}  # both held
    source.deliveries += later
    await projector.step()  # the worker's event releases its task's sent: one write
    assert store.docs(TASKS)["a"]["_v"] == 1 and store.docs(TASKS)["a"]["state"] == "STARTED"
    assert "b" not in store.docs(TASKS) and not items[1].acked
    clock.advance(0.2)
    while await projector.step():
        pass
    assert store.docs(TASKS)["b"]["state"] == "PENDING" and all(d.acked for d in items)
    assert projector.stats.documents_written == 2
