"""Rebuild: a replay from the first message to a bound, through the live projection's code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from tasktrail_projector.adapters.store import STATS
from tasktrail_projector.domain.messages import decode_message
from tasktrail_projector.ports import ProgressSink, StreamExtent
from tasktrail_projector.rebuild import Rebuild, Until
from tasktrail_projector.service import Projector
from tasktrail_projector.sweeps import Maintenance
from tasktrail_shared.mongo import TASKS, WORKERS

from tests.unit.projector import scenario
from tests.unit.projector.builders import deliveries
from tests.unit.projector.fakes import FakeClock, FakeDelivery, FakeSource, FakeStore


def job(
    items: list[FakeDelivery],
    store: FakeStore,
    until: Until | None = None,
    last: int | None = None,
    progress: ProgressSink | None = None,
) -> Rebuild:
    """A rebuild on a clock of its own (starting at ``scenario.AFTER``)."""
    clock = FakeClock(scenario.AFTER)
    source = FakeSource(items, clock=clock)
    projector = Projector(
        source, store, consumer="rebuild", batch_size=4, fetch_timeout=0.01, clock=clock
    )
    maintenance = Maintenance(store, consumer="rebuild", clock=clock)
    end = len(items) if last is None else last
    return Rebuild(
        projector,
        maintenance,
        source,
        store,
        extent=StreamExtent(first=1, last=end, messages=end),
        until=until,
        retry_delay=0.01,
        clock=clock,
        progress=progress,
    )


def public(docs: dict[Any, dict[str, Any]]) -> dict[Any, dict[str, Any]]:
    return {k: {f: v for f, v in d.items() if f != "_v"} for k, d in docs.items()}


async def live(items: list[FakeDelivery]) -> FakeStore:
    store = FakeStore()
    projector = Projector(FakeSource(items), store, batch_size=3)
    while await projector.step():
        pass
    await Maintenance(store, clock=FakeClock(scenario.AFTER)).settle()
    return store


def test_until_parses_a_sequence_or_a_time() -> None:
    assert Until.parse("1500") == Until(seq=1500)
    assert Until.parse("2027-01-15T08:01:00Z").time == datetime(2027, 1, 15, 8, 1, tzinfo=UTC)
    assert Until.parse("2027-01-15T08:01:00").time == datetime(2027, 1, 15, 8, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        Until.parse("yesterday")


async def test_a_full_replay_equals_the_live_projection() -> None:
    items = deliveries(scenario.messages())
    rebuilt = FakeStore()
    report = await job(items, rebuilt).run()
    assert (report.messages, report.last_seq, report.skipped) == (len(items), len(items), 0)
    expected = await live(deliveries(scenario.messages()))
    assert public(rebuilt.docs(TASKS)).keys() == public(expected.docs(TASKS)).keys()
    assert public(rebuilt.docs(TASKS)) == public(expected.docs(TASKS))
    assert public(rebuilt.docs(WORKERS)) == public(expected.docs(WORKERS))
    assert rebuilt.docs(STATS) == expected.docs(STATS)


async def test_until_a_sequence_stops_there_and_gives_back_the_rest() -> None:
    items = deliveries(scenario.messages())
    store = FakeStore()
    report = await job(items, store, Until(seq=10)).run()
    assert report.last_seq == 10 and report.messages == 10 and report.skipped >= 1
    assert all(d.acked for d in items[:10]) and not any(d.acked for d in items[10:])
    assert any(d.naked for d in items[10:])
    prefix = await live(deliveries(scenario.messages()[:10]))
    assert public(store.docs(TASKS)).keys() == public(prefix.docs(TASKS)).keys()


async def test_until_a_time_uses_the_logs_clock_and_judges_lost_tasks_then() -> None:
    log = sorted(
        (e for e in scenario.messages() if e.type.startswith("celery.")), key=lambda e: e.received
    )
    items = deliveries(log)
    for delivery, env in zip(items, log, strict=True):
        delivery.time = env.received  # the log stores each message as the collector got it
    cut = next(
        d.time
        for d, e in zip(items, log, strict=True)
        if e.type == "celery.task.multi"
        and any(o.event["uuid"] == "doomed" for o in decode_message(e.headers(), e.data).events)
    )
    store = FakeStore()
    report = await job(items, store, Until(time=datetime.fromtimestamp(cut, UTC))).run()
    assert report.last_seq == sum(1 for d in items if d.time <= cut) and report.skipped
    assert store.docs(TASKS)["doomed"]["lost"] is False  # judged then: W2 was still alive
    assert "ok" in store.docs(TASKS) and store.docs(TASKS)["ok"]["state"] == "STARTED"
    everything = FakeStore()
    await job(deliveries(scenario.messages()), everything).run()
    assert everything.docs(TASKS)["doomed"]["lost"] is True  # judged at the clock: long gone


async def test_an_empty_stream_or_a_shortened_one_ends_the_replay() -> None:
    assert (await job([], FakeStore(), last=0).run()).messages == 0
    items = deliveries(scenario.messages()[:5])
    report = await job(items, FakeStore(), last=9).run()  # 6..9 were deleted by retention
    assert report.messages == 5 and report.last_seq == 5


async def test_an_outage_is_waited_out_without_skipping_anything() -> None:
    items = deliveries(scenario.messages())
    store = FakeStore(outage=9)  # a batch makes one to three calls: 3 to 9 attempts fail
    rebuild = job(items, store)
    report = await rebuild.run()
    assert isinstance(rebuild.clock, FakeClock)
    assert rebuild.clock.slept[:3] == [0.01, 0.02, 0.04]  # each attempt waits twice as long
    assert report.messages == len(items) and not any(d.naked for d in items)
    assert public(store.docs(TASKS)) == public(
        (await live(deliveries(scenario.messages()))).docs(TASKS)
    )


async def test_a_long_replay_recomputes_stats_as_it_goes() -> None:
    """The marks stay few however long the log: the replay sweeps while it runs."""

    class Watched(FakeStore):
        most: int = 0

        async def save_position(self, consumer: str, seq: int, marks: Any) -> None:
            await super().save_position(consumer, seq, marks)
            self.most = max(self.most, len(await self.marks(consumer)))

    items = deliveries(scenario.messages() * 3)
    store = Watched()
    rebuild = job(items, store)
    rebuild.maintenance.stats_interval = 0.0
    await rebuild.run()
    assert rebuild.maintenance.stats.slots > 0 and store.most <= 8  # of some 40 slots
    assert await store.marks("rebuild") == {}


class Recorded:
    """A :class:`ProgressSink` that keeps what it is told."""

    def __init__(self) -> None:
        self.said: list[tuple[str, int]] = []

    def start(self, total: int) -> None:
        self.said.append(("start", total))

    def update(self, done: int) -> None:
        self.said.append(("update", done))

    def finish(self, done: int) -> None:
        self.said.append(("finish", done))


async def test_progress_is_reported_batch_by_batch_against_the_total() -> None:
    items = deliveries(scenario.messages())
    progress = Recorded()
    report = await job(items, FakeStore(), progress=progress).run()
    assert progress.said[0] == ("start", len(items))
    updates = [done for what, done in progress.said if what == "update"]
    assert updates == [*range(4, len(items), 4), len(items)]  # batches of 4
    assert progress.said[-1] == ("finish", len(items)) == ("finish", report.messages)
    assert report.events >= report.messages

    cut = Recorded()
    await job(deliveries(scenario.messages()), FakeStore(), Until(seq=10), progress=cut).run()
    assert cut.said[0] == ("start", 10) and cut.said[-1] == ("finish", 10)
