"""Task counters: exact however the projector is interrupted, replayed or fed duplicates.

Every test ends by comparing what the counters say with a recount of the task documents
themselves (:func:`recount`), at every level of the ledger.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest
from tasktrail_projector.domain import counts as ledger
from tasktrail_projector.domain.labels import Rule
from tasktrail_projector.service import Projector
from tasktrail_projector.sweeps import Maintenance
from tasktrail_shared import counts
from tasktrail_shared.mongo import COUNTS, TASKS

from tests.unit.projector import scenario
from tests.unit.projector.builders import deliveries
from tests.unit.projector.fakes import FakeClock, FakeDelivery, FakeSource, FakeStore

RULES = (Rule.parse("cidr", "*", arg=0), Rule.parse("asn", "*", kwarg="asn"))
"""Labels on the scenario's tasks: text (``cidr-1``) and a number (``64500``)."""
Counted = Counter[tuple[str, str, str, str]]
"""(app, dimension, value, state) -> tasks."""


class Crash(BaseException):
    """The process dies here: nothing after it runs, nothing catches it."""


def recount(store: FakeStore) -> Counted:
    """The counts, straight from the task documents."""
    found: Counted = Counter()
    for doc in store.docs(TASKS).values():
        if doc.get("deleted"):
            continue
        found[(doc["app"], "", "", doc["state"])] += 1
        for dimension in counts.DIMENSIONS:
            if isinstance(doc.get(dimension), str):
                found[(doc["app"], dimension, doc[dimension], doc["state"])] += 1
        for (d, v, s), cell in counts.lifecycle_cells(doc):  # the lifecycle counters
            found[(doc["app"], d, v, s)] += cell.n
        for name, value in (doc.get("labels") or {}).items():  # every state together
            found[(doc["app"], f"label:{name}", counts.label_value(value) or "", "")] += 1
    return found


def ledger_level(store: FakeStore, level: str) -> Counted:
    """What the counters of ``level`` add up to, over all its periods (the totals: the three
    documents of each cluster)."""
    found: Counted = Counter()
    levels = {level}
    if level == counts.TOTAL:
        levels |= {counts.TOTAL_LIFECYCLE, counts.TOTAL_LABELS}
    for doc in store.docs(COUNTS).values():
        if doc["level"] not in levels:
            continue
        for (d, v, s), cell in counts.stored(doc).items():
            found[(doc["app"], d, v, s)] += cell.n
    return found


def stored_counts(store: FakeStore) -> dict[str, Any]:
    """The counter documents as stored, without their write stamps (each write has its own)."""
    return {k: {f: v for f, v in d.items() if f != "stamp"} for k, d in store.docs(COUNTS).items()}


def assert_exact(store: FakeStore) -> None:
    expected = recount(store)
    assert expected, "nothing was projected"
    for level in counts.LEVELS:
        assert ledger_level(store, level) == expected, level
    newest: dict[tuple[str, str], datetime | None] = {}
    for doc in store.docs(COUNTS).values():
        if doc["level"] == "total":
            every = counts.count(counts.from_rows(doc["rows"]), None)
            newest.update({(doc["app"], t): every.highest(t) for t in counts.TIMES})
    expected_newest: dict[tuple[str, str], datetime | None] = {}
    for doc in store.docs(TASKS).values():
        for t in counts.TIMES:
            at, held = doc.get(t), expected_newest.get((doc["app"], t))
            if not doc.get("deleted") and isinstance(at, datetime):
                expected_newest[(doc["app"], t)] = at if held is None else max(at, held)
            else:
                expected_newest.setdefault((doc["app"], t), held)
    assert newest == expected_newest


async def drain(projector: Projector, sweeps: Maintenance | None = None) -> None:
    while await projector.step():
        if sweeps is not None:
            await sweeps.sweep_stats()


def clean_run(batch_size: int = 500) -> Callable[[], Awaitable[FakeStore]]:
    async def run() -> FakeStore:
        store = FakeStore()
        source = FakeSource(deliveries(scenario.messages()))
        await drain(Projector(source, store, batch_size=8, rules=RULES))
        await Maintenance(store, clock=FakeClock(scenario.AFTER)).settle(scenario.AFTER)
        return store

    return run


async def test_the_counters_equal_a_recount_at_every_level() -> None:
    store = await clean_run()()
    assert_exact(store)
    totals = {d["app"]: d for d in store.docs(COUNTS).values() if d["level"] == "total"}
    tally = counts.from_rows(totals["default"]["rows"])
    # "bad" failed then was deleted; "manual" was deleted, then recorded again
    assert counts.count(tally, ["FAILURE"]).n == 0
    assert counts.count(tally, ["STARTED"], "name", "manual.v2").n == 1  # amended
    assert counts.count(tally, None, "worker", scenario.W2).n == 1
    assert totals["default"]["n"] == len(
        [d for d in store.docs(TASKS).values() if not d["deleted"]]
    )


@pytest.mark.parametrize("point", [1, 2, 3, 5, 8])
async def test_a_crash_between_the_writes_and_the_marks_leaves_counts_exact(point: int) -> None:
    """The task documents of a batch landed, the process died before it saved its marks:
    the batch comes again to a fresh process, which finds the documents up to date."""
    store = FakeStore()
    sweeps = Maintenance(store, clock=FakeClock(scenario.AFTER))
    batch = deliveries(scenario.messages())
    saved = 0
    original = store.save_position

    async def dying(consumer: str, seq: int, marks: Any) -> None:
        nonlocal saved
        saved += 1
        if saved == point:
            raise Crash
        await original(consumer, seq, marks)

    store.save_position = dying  # type: ignore[method-assign]
    with pytest.raises(Crash):
        await drain(Projector(FakeSource(batch), store, batch_size=3, rules=RULES), sweeps)
    store.save_position = original  # type: ignore[method-assign]
    await restart(store, batch)
    assert_exact(store)


async def test_a_crash_in_the_middle_of_a_sweep_leaves_counts_exact() -> None:
    store = FakeStore()
    batch = deliveries(scenario.messages())
    await drain(Projector(FakeSource(batch), store, batch_size=4, rules=RULES))
    original = store.put_counts
    calls = 0

    async def dying(level: str, at: datetime | None, docs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 7:
            raise Crash
        await original(level, at, docs)

    store.put_counts = dying  # type: ignore[method-assign]
    with pytest.raises(Crash):
        await Maintenance(store, clock=FakeClock(scenario.AFTER)).sweep_stats()
    store.put_counts = original  # type: ignore[method-assign]
    await Maintenance(store, clock=FakeClock(scenario.AFTER)).settle(scenario.AFTER)
    assert_exact(store)


async def restart(store: FakeStore, batch: list[FakeDelivery]) -> None:
    """A new process (nothing cached) gets what was never acknowledged, then settles."""
    rest = [FakeDelivery(d.subject, d.headers, d.data, d.seq, d.time) for d in batch if not d.acked]
    await drain(Projector(FakeSource(rest), store, batch_size=5, rules=RULES))
    await Maintenance(store, clock=FakeClock(scenario.AFTER)).settle(scenario.AFTER)


async def test_replays_and_duplicates_count_once() -> None:
    envelopes = scenario.messages()
    once = await clean_run()()
    twice = FakeStore()
    sweeps = Maintenance(twice, clock=FakeClock(scenario.AFTER))
    mixed = envelopes[::-1] + envelopes[:10]
    for messages, size in ((mixed, 4), (envelopes, 7)):
        source = FakeSource(deliveries(messages))
        await drain(Projector(source, twice, batch_size=size, rules=RULES), sweeps)
    await sweeps.settle(scenario.AFTER)
    assert_exact(twice)
    assert stored_counts(twice) == stored_counts(once)


@pytest.mark.parametrize("limit", [4, 5])
async def test_a_label_of_more_values_than_the_setting_is_counted_nowhere(limit: int) -> None:
    """The scenario's live tasks have five values of ``cidr``: at a limit of five they are
    counted, at four every level keeps one row that says the label is over, and no count."""
    store = FakeStore()
    source = FakeSource(deliveries(scenario.messages()))
    await drain(Projector(source, store, batch_size=8, rules=RULES))
    await Maintenance(store, clock=FakeClock(scenario.AFTER), label_values=limit).settle(
        scenario.AFTER
    )
    live = [d for d in store.docs(TASKS).values() if d.get("labels") and not d["deleted"]]
    assert len({str(d["labels"]["cidr"]) for d in live}) == 5
    [total] = [d for d in store.docs(COUNTS).values() if d["level"] == counts.TOTAL_LABELS]
    tally = counts.from_rows(total[counts.LABEL_ROWS])
    found = counts.label_count(tally, "cidr", ["cidr-1"])
    if limit == 5:
        assert found is not None and found.n == 1
        assert ledger_level(store, counts.TOTAL) == recount(store)
    else:
        assert found is None
        assert tally == {("label:cidr", counts.OVER, ""): counts.Cell(1)}


def test_a_move_marks_the_old_and_the_new_home() -> None:
    slot = scenario_slot(0)
    later = scenario_slot(4)
    doc: dict[str, Any] = {"_slots": [slot, later], "app": "a", "state": "STARTED", "name": "n"}
    assert ledger.recount(None, doc) == {slot}
    assert ledger.recount(doc, {**doc, "state": "SUCCESS"}) == {slot}
    assert ledger.recount(doc, {**doc, "lost": True, "runtime": 3.0}) == set()
    earlier = {**doc, "_slots": [scenario_slot(-2), slot, later]}
    assert ledger.recount(doc, earlier) == {slot, scenario_slot(-2)}
    assert ledger.recount(doc, {**doc, "deleted": True}) == {slot}


def scenario_slot(offset: int) -> datetime:
    return datetime.fromtimestamp(scenario.T0 + offset, scenario.AFTER.tzinfo)
