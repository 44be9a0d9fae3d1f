"""The counters' roll-up sums each period from the level below, reusing the sum of the
children it did not write while their stamps say they are unchanged, and reading them again
when they are not (another replica's write), and stamping a document from before stamps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tasktrail_projector.rollup import RollUp
from tasktrail_shared import counts
from tasktrail_shared.counts import ALL, TOTAL, Cell, Tally
from tasktrail_shared.mongo import COUNTS

from tests.unit.projector.fakes import FakeStore

FIRST = datetime(2027, 1, 15, 8, 0, 0, tzinfo=UTC)
SECOND = datetime(2027, 1, 15, 8, 0, 2, tzinfo=UTC)
LEVELS_ABOVE_SLOTS = ("minute", "hour", "day", "month", TOTAL)


def done(n: int) -> Tally:
    return {(ALL, ALL, "SUCCESS"): Cell(n)}


def counted(store: FakeStore, level: str, app: str = "a") -> int:
    """What the ``level`` counters of ``app`` say, over all their periods."""
    return sum(
        cell.n
        for doc in store.docs(COUNTS).values()
        if doc["level"] == level and doc["app"] == app
        for cell in counts.from_rows(doc["rows"]).values()
    )


def reads_of_tallies(store: FakeStore) -> list[tuple[str, Any]]:
    """Record every full read of counter documents from now on."""
    calls: list[tuple[str, Any]] = []
    original = store.count_tallies

    async def spy(level: str, start: datetime | None, end: datetime | None) -> list[Any]:
        calls.append((level, start))
        return await original(level, start, end)

    store.count_tallies = spy  # type: ignore[method-assign]
    return calls


async def recount_slot(roll_up: RollUp, slot: datetime, tallies: dict[str, Tally]) -> None:
    """What a sweep does for one recounted slot: store it, then roll the levels up."""
    written = await roll_up.put("slot", slot, tallies)
    await roll_up.run({slot}, written)


async def test_every_level_sums_the_slots_below_it() -> None:
    store = FakeStore()
    roll_up = RollUp(store)
    await recount_slot(roll_up, FIRST, {"a": done(3), "b": done(1)})
    await recount_slot(roll_up, SECOND, {"a": done(4)})
    for level in LEVELS_ABOVE_SLOTS:
        assert counted(store, level) == 7, level
        assert counted(store, level, "b") == 1, level


async def test_unchanged_children_are_not_read_again() -> None:
    store = FakeStore()
    roll_up = RollUp(store)
    await recount_slot(roll_up, FIRST, {"a": done(3)})
    await recount_slot(roll_up, SECOND, {"a": done(4)})
    reads = reads_of_tallies(store)
    await recount_slot(roll_up, SECOND, {"a": done(5)})
    assert reads == []
    assert [counted(store, level) for level in LEVELS_ABOVE_SLOTS] == [8] * 5


async def test_a_child_another_replica_rewrote_is_read_again() -> None:
    store = FakeStore()
    ours, theirs = RollUp(store), RollUp(store)
    await recount_slot(ours, FIRST, {"a": done(3)})
    await recount_slot(ours, SECOND, {"a": done(4)})
    await theirs.put("slot", FIRST, {"a": done(10)})  # not rolled up by them yet
    reads = reads_of_tallies(store)
    await recount_slot(ours, SECOND, {"a": done(5)})
    assert ("slot", FIRST.replace(second=0)) in reads
    assert [counted(store, level) for level in LEVELS_ABOVE_SLOTS] == [15] * 5


async def test_a_child_without_a_stamp_is_read_once_and_stamped() -> None:
    store = FakeStore()
    roll_up = RollUp(store)
    await recount_slot(roll_up, FIRST, {"a": done(3)})
    await recount_slot(roll_up, SECOND, {"a": done(4)})
    old = store.docs(COUNTS)[counts.document_id("slot", "a", FIRST)]
    del old["stamp"]  # as an earlier release wrote it
    old["rows"] = counts.to_rows(done(1))
    reads = reads_of_tallies(store)
    await recount_slot(roll_up, SECOND, {"a": done(4)})
    await recount_slot(roll_up, SECOND, {"a": done(4)})
    assert reads.count(("slot", FIRST)) == 1
    assert old["stamp"] is not None
    assert counted(store, TOTAL) == 5


async def test_a_cluster_with_nothing_left_keeps_a_total_of_zero() -> None:
    store = FakeStore()
    roll_up = RollUp(store)
    await recount_slot(roll_up, FIRST, {"a": done(3), "b": done(2)})
    await recount_slot(roll_up, FIRST, {"a": done(3)})
    assert counted(store, TOTAL, "b") == 0
    assert counts.document_id(TOTAL, "b", None) in store.docs(COUNTS)
    assert counts.document_id("minute", "b", FIRST) not in store.docs(COUNTS)
