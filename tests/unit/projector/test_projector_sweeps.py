"""Stats buckets and lost flags: recomputed from the read models, exact whatever happened."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tasktrail_projector.adapters.store import STATS
from tasktrail_projector.domain import lost, stats
from tasktrail_projector.domain.tasks import SLOT_SECONDS
from tasktrail_projector.service import Projector
from tasktrail_projector.sweeps import Maintenance
from tasktrail_shared.mongo import TASKS, WORKERS

from tests.unit.projector import scenario
from tests.unit.projector.builders import celery_message, deliveries
from tests.unit.projector.fakes import FakeClock, FakeSource, FakeStore

M0 = datetime.fromtimestamp(scenario.T0, UTC)


def row(**fields: Any) -> dict[str, Any]:
    return {"app": "a", "name": "n", "worker": "w", "deleted": False, **fields}


def minute_buckets(moment: datetime, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A minute's public buckets from task rows, in the sweep's two steps: the tally of each
    of its thirty slots, then their sum."""
    start = stats.minute_of(moment)
    slots = [start + timedelta(seconds=i * SLOT_SECONDS) for i in range(60 // SLOT_SECONDS)]
    return stats.minute_buckets(start, [t for s in slots for t in stats.slot_tallies(s, rows)])


def test_a_bucket_counts_each_lifecycle_time_in_its_own_minute() -> None:
    rows = [
        row(received=M0, started=M0, succeeded=M0 + timedelta(seconds=61), runtime=61.0),
        row(received=M0 + timedelta(seconds=5), failed=M0 + timedelta(seconds=6), name="m"),
        row(succeeded=M0 + timedelta(seconds=9), runtime=0.05, worker="v"),
        row(succeeded=M0, runtime=float("nan")),
        row(received=M0, deleted=True),
        row(received=M0, app="b"),
    ]
    a, b = minute_buckets(M0 + timedelta(seconds=30), rows)
    assert (a["_id"], a["minute"], b["app"]) == ("a/2027-01-15T08:00Z", M0, "b")
    assert a["counts"] == {"FAILURE": 1, "RECEIVED": 2, "STARTED": 1, "SUCCESS": 2}
    assert a["runtime"]["count"] == 1 and a["runtime"]["sum"] == 0.05
    assert a["runtime"]["hist"][1] == 1 and len(a["runtime"]["hist"]) == len(stats.EDGES) + 1
    assert [n["name"] for n in a["names"]] == ["m", "n"]
    assert a["names"][0]["counts"] == {"FAILURE": 1, "RECEIVED": 1}
    assert a["names"][0]["runtime"] is None  # no run time in this minute: no histogram
    assert a["names"][1]["runtime"]["hist"] == a["runtime"]["hist"]  # per name, for percentiles
    assert a["names"][1]["runtime"]["edges"] == list(stats.EDGES)
    assert a["workers"] == [
        {"worker": "v", "counts": {"SUCCESS": 1}},
        {"worker": "w", "counts": {"FAILURE": 1, "RECEIVED": 2, "STARTED": 1, "SUCCESS": 1}},
    ]
    assert minute_buckets(M0, list(reversed(rows))) == [a, b]
    later = M0 + timedelta(seconds=59)
    assert stats.slot_from_key(stats.slot_key(later)) == M0 + timedelta(seconds=58)
    [tally] = stats.slot_tallies(M0 + timedelta(seconds=9), rows[2:3])
    assert (tally["_id"], tally["counts"]) == ("a/2027-01-15T08:00:08Z", {"SUCCESS": 1})


def test_only_what_a_change_alters_is_marked() -> None:
    received = row(received=M0, started=M0 + timedelta(seconds=1))
    done = {**received, "succeeded": M0 + timedelta(seconds=61), "runtime": 60.0}
    assert stats.changed_slots(None, received) == {M0}
    assert stats.changed_slots(received, done) == {M0 + timedelta(seconds=60)}
    assert stats.changed_slots(done, {**done, "name": "other"}) == {M0, M0 + timedelta(seconds=60)}
    assert stats.changed_slots(done, {**done, "deleted": True}) == {M0, M0 + timedelta(seconds=60)}
    assert stats.changed_slots(done, {**done, "state": "X", "lost": True}) == set()


async def test_a_slot_marked_again_during_its_recomputation_stays_marked() -> None:
    store = FakeStore()
    key = stats.slot_key(M0)
    await store.save_position("projector", 1, [key])
    sweeps = Maintenance(store, clock=FakeClock(scenario.AFTER))
    original = store.slot_tasks

    async def meanwhile(slot: datetime, fields: Any) -> Any:
        await store.save_position("projector", 2, [key])  # a batch lands mid-recomputation
        return await original(slot, fields)

    store.slot_tasks = meanwhile  # type: ignore[method-assign]
    await sweeps.sweep_stats()
    assert await store.marks("projector") == {key: 2}
    store.slot_tasks = original  # type: ignore[method-assign]
    await sweeps.sweep_stats()
    assert await store.marks("projector") == {}


async def test_minutes_older_than_the_window_are_final() -> None:
    store = FakeStore()
    store.docs(STATS)["old"] = {"_id": "old", "minute": M0, "counts": {"SUCCESS": 3}}
    await store.save_position("projector", 1, [stats.slot_key(M0)])
    late = M0 + timedelta(days=8)
    await Maintenance(store, window_days=7, clock=FakeClock(late)).sweep_stats()
    assert store.docs(STATS)["old"]["counts"] == {"SUCCESS": 3}  # its tallies may be gone
    assert await store.marks("projector") == {}
    await store.save_position("projector", 2, [stats.slot_key(M0)])
    await Maintenance(store, window_days=7, clock=FakeClock(late)).sweep_stats(everything=True)
    assert "old" not in store.docs(STATS)  # a rebuild recomputes whatever it replays


async def test_replayed_and_duplicated_batches_leave_stats_exact() -> None:
    """Project the scenario twice over (a crash replay), sweeping in between."""
    envelopes = scenario.messages()
    once = FakeStore()
    await drain(Projector(FakeSource(deliveries(envelopes)), once))
    await Maintenance(once, clock=FakeClock(scenario.AFTER)).settle()
    twice = FakeStore()
    sweeps = Maintenance(twice, clock=FakeClock(scenario.AFTER))
    projector = Projector(FakeSource(deliveries(envelopes + envelopes[:10])), twice, batch_size=4)
    while await projector.step():
        await sweeps.sweep_stats()
    await drain(Projector(FakeSource(deliveries(envelopes)), twice, batch_size=7))
    await sweeps.settle(scenario.AFTER)
    assert twice.docs(STATS) == once.docs(STATS)


async def drain(projector: Projector) -> None:
    while await projector.step():
        pass


def worker_doc(host: str, until: float, pid: int, seen: float) -> dict[str, Any]:
    return {
        "_id": host,
        "alive_until": datetime.fromtimestamp(until, UTC),
        "pid": pid,
        "event_time": datetime.fromtimestamp(seen, UTC),
    }


def task_doc(uuid: str, state: str, host: str, pid: int, at: float, **more: Any) -> dict[str, Any]:
    return {
        "_id": uuid,
        "state": state,
        "worker": host,
        "worker_pid": pid,
        "timestamp": datetime.fromtimestamp(at, UTC),
        "rejected": None,
        "lost": False,
        **more,
    }


NOW = datetime.fromtimestamp(1000, UTC)


def test_unfinished_tasks_on_a_dead_or_restarted_worker_are_lost() -> None:
    live = lost.liveness([worker_doc("dead", 900, 1, 890), worker_doc("up", 1100, 2, 990)], NOW)
    assert lost.is_lost(task_doc("a", "STARTED", "dead", 1, 880), live)
    assert lost.is_lost(task_doc("b", "RECEIVED", "dead", 1, 880), live)
    assert not lost.is_lost(task_doc("c", "SUCCESS", "dead", 1, 880), live)
    assert not lost.is_lost(task_doc("d", "STARTED", "up", 2, 980), live)
    assert lost.is_lost(task_doc("e", "STARTED", "up", 9, 980), live)  # restarted since
    assert not lost.is_lost(task_doc("f", "STARTED", "up", 9, 995), live)  # newer than the worker
    assert not lost.is_lost(task_doc("g", "STARTED", "unknown", 1, 880), live)
    rejected = datetime.fromtimestamp(881, UTC)
    assert not lost.is_lost(task_doc("h", "RECEIVED", "dead", 1, 880, rejected=rejected), live)
    [flip] = lost.flips([task_doc("a", "STARTED", "dead", 1, 880)], live)
    assert flip.lost and flip.expect["state"] == "STARTED" and flip.expect["lost"] is False


async def test_the_lost_sweep_flags_and_unflags_and_a_merge_keeps_the_flag() -> None:
    store = FakeStore()
    started = {"type": "task-started", "uuid": "t", "hostname": "w", "timestamp": 990.0, "pid": 5}
    beat = {"type": "worker-heartbeat", "hostname": "w", "timestamp": 980.0, "pid": 5, "freq": 2}
    await drain(Projector(FakeSource(deliveries([celery_message("task.started", started)])), store))
    await drain(
        Projector(FakeSource(deliveries([celery_message("worker.heartbeat", beat)])), store)
    )
    clock = FakeClock(datetime.fromtimestamp(981, UTC))
    sweeps = Maintenance(store, clock=clock)
    assert await sweeps.sweep_lost() == 0
    clock.advance(19)  # now 1000: the heartbeat (received 980.001) expired at 984.001
    assert await sweeps.sweep_lost() == 1
    doc = store.docs(TASKS)["t"]
    assert doc["lost"] and doc["state"] == "STARTED" and doc["_v"] == 2
    # a duplicate of its event changes nothing; a newer started event on the same process keeps it
    projector = Projector(FakeSource(deliveries([celery_message("task.started", started)])), store)
    await drain(projector)
    assert store.docs(TASKS)["t"]["lost"]
    done = {**started, "type": "task-succeeded", "timestamp": 999.0}
    await drain(Projector(FakeSource(deliveries([celery_message("task.succeeded", done)])), store))
    assert store.docs(TASKS)["t"]["lost"] is False  # finished: not lost any more


async def test_the_lost_sweep_only_rescans_workers_that_changed_or_were_written() -> None:
    store = FakeStore()
    store.docs(WORKERS)["w"] = {"_id": "w", **worker_doc("w", 2000, 1, 990)}
    store.docs(TASKS)["t"] = task_doc("t", "STARTED", "w", 1, 980)
    touched: set[str] = set()
    sweeps = Maintenance(store, clock=FakeClock(NOW), touched=lambda: set(touched), full_every=100)
    scanned: list[Any] = []
    original = store.unfinished_tasks

    async def spy(workers: Any, states: Any, fields: Any) -> Any:
        scanned.append(workers)
        return await original(workers, states, fields)

    store.unfinished_tasks = spy  # type: ignore[method-assign]
    await sweeps.sweep_lost()  # first: everything
    await sweeps.sweep_lost()  # nothing changed: no scan
    touched.add("w")
    await sweeps.sweep_lost()
    touched.clear()
    store.docs(WORKERS)["w"]["alive_until"] = datetime.fromtimestamp(999, UTC)
    assert await sweeps.sweep_lost() == 1
    assert scanned == [["w"], ["w"], ["w"]]


async def test_sweeps_run_on_their_intervals_until_stopped() -> None:
    clock = FakeClock()
    sweeps = Maintenance(FakeStore(), stats_interval=1.0, lost_interval=2.0, clock=clock)
    stop = clock.alarm(after=10.0)
    await asyncio.wait_for(sweeps.run(stop), 10)  # a give-up bound, not a measurement
    # over ten seconds of its clock: at 0, 1, ... 9 and at 0, 2, ... 8, then it stopped
    assert (sweeps.stats.stats_sweeps, sweeps.stats.lost_sweeps) == (10, 5)
    assert clock.slept == [1.0] * 10
