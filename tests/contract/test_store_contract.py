"""The projector's store port (``tasktrail_projector.ports.Store``): what the projection loop
and the sweeps may rely on, checked on the fake and on the MongoDB adapter alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tasktrail_projector.domain.lost import Flip
from tasktrail_projector.ports import Doc, RejectedWrite, Write
from tasktrail_shared import counts
from tasktrail_shared.mongo import CHECKPOINTS, DEAD_LETTERS, STATS, STATS_SLOTS, TASKS, WORKERS

from tests.contract.conftest import StoreUnderTest

SLOT = datetime(2027, 1, 15, 8, 0, 10, tzinfo=UTC)
MINUTE = SLOT.replace(second=0)


async def insert(subject: StoreUnderTest, collection: str, *docs: Doc) -> None:
    """Store new documents through the port (each then has ``_v`` 1)."""
    assert await subject.store.write(collection, [Write(d, None) for d in docs]) == []


# --- load and versioned writes -------------------------------------------------------------


async def test_load_returns_the_stored_documents_and_omits_missing_ones(
    subject: StoreUnderTest,
) -> None:
    await insert(subject, TASKS, {"_id": "a", "state": "STARTED"}, {"_id": "b", "state": "SENT"})
    loaded = await subject.store.load(TASKS, ["a", "nope"])
    assert loaded == {"a": {"_id": "a", "state": "STARTED", "_v": 1}}
    assert await subject.store.load(TASKS, []) == {}


async def test_a_loaded_document_is_a_copy(subject: StoreUnderTest) -> None:
    await insert(subject, TASKS, {"_id": "a", "children": ["c"]})
    (await subject.store.load(TASKS, ["a"]))["a"]["children"].append("d")
    assert (await subject.store.load(TASKS, ["a"]))["a"]["children"] == ["c"]


async def test_documents_come_back_as_the_database_keeps_them(subject: StoreUnderTest) -> None:
    """Times in UTC cut to milliseconds (BSON's precision), tuples as lists."""
    moment = datetime(2027, 1, 15, 8, 0, 0, 123456, tzinfo=UTC)
    await insert(subject, TASKS, {"_id": "a", "sent": moment, "args": (1, "x")})
    doc = (await subject.store.load(TASKS, ["a"]))["a"]
    assert doc["sent"] == moment.replace(microsecond=123000)
    assert doc["sent"].utcoffset() == timedelta(0)
    assert doc["args"] == [1, "x"]


async def test_an_insert_lands_with_version_one_unless_the_id_is_taken(
    subject: StoreUnderTest,
) -> None:
    await insert(subject, TASKS, {"_id": "a", "state": "STARTED"})
    lost = await subject.store.write(
        TASKS, [Write({"_id": "a", "state": "SENT"}, None), Write({"_id": "b"}, None)]
    )
    assert lost == ["a"]
    assert await subject.peek(TASKS) == {
        "a": {"_id": "a", "state": "STARTED", "_v": 1},
        "b": {"_id": "b", "_v": 1},
    }


async def test_a_replacement_lands_only_on_the_version_it_was_folded_from(
    subject: StoreUnderTest,
) -> None:
    await insert(subject, TASKS, {"_id": "a", "n": 0}, {"_id": "b", "n": 0}, {"_id": "c", "n": 0})
    lost = await subject.store.write(
        TASKS,
        [
            Write({"_id": "a", "n": 1}, 1),
            Write({"_id": "b", "n": 1}, 7),  # stale: another writer moved it on
            Write({"_id": "c", "n": 1}, 1),
        ],
    )
    # The port may report more than the stale ones (all of them, with MongoDB): re-folding
    # those is harmless. It must report every write that did not land.
    assert "b" in lost
    held = await subject.peek(TASKS)
    assert held["b"] == {"_id": "b", "n": 0, "_v": 1}
    for doc_id in ("a", "c"):
        assert held[doc_id] == {"_id": doc_id, "n": 1, "_v": 2}


async def test_a_replacement_of_a_vanished_document_is_reported_and_recreates_nothing(
    subject: StoreUnderTest,
) -> None:
    """A document gone since it was read (a TTL, say) is reloaded, found new, inserted."""
    lost = await subject.store.write(TASKS, [Write({"_id": "gone", "n": 1}, 3)])
    assert lost == ["gone"]
    assert await subject.peek(TASKS) == {}


@pytest.mark.parametrize(
    "bad",
    [
        {"_id": "a", "big": 2**64},  # no BSON integer holds it
        {"_id": "a", "what": {1, 2}},  # a set: no BSON type
        {"_id": "a", "blob": "x" * (17 * 1024 * 1024)},  # over 16 MiB
    ],
    ids=["int-overflow", "set", "too-large"],
)
async def test_a_document_the_database_cannot_hold_is_refused(
    subject: StoreUnderTest, bad: dict[str, Any]
) -> None:
    with pytest.raises(RejectedWrite):
        await subject.store.write(TASKS, [Write(bad, None)])
    with pytest.raises(RejectedWrite):
        await subject.store.append(DEAD_LETTERS, [bad])
    assert await subject.peek(TASKS) == {} and await subject.peek(DEAD_LETTERS) == {}


# --- appends ---------------------------------------------------------------------------------


async def test_append_keeps_the_first_copy_of_each_id(subject: StoreUnderTest) -> None:
    await subject.store.append(DEAD_LETTERS, [{"_id": 1, "reason": "first"}])
    await subject.store.append(
        DEAD_LETTERS,
        [{"_id": 1, "reason": "again"}, {"_id": 2, "reason": "new"}, {"_id": 2, "reason": "dup"}],
    )
    await subject.store.append(DEAD_LETTERS, [])
    assert await subject.peek(DEAD_LETTERS) == {
        1: {"_id": 1, "reason": "first"},
        2: {"_id": 2, "reason": "new"},
    }


# --- position and stats marks ----------------------------------------------------------------


async def test_the_position_never_goes_back(subject: StoreUnderTest) -> None:
    await subject.store.save_position("p", 10, [])
    await subject.store.save_position("p", 4, [])  # a redelivered batch, older
    await subject.store.save_position("q", 2, [])
    held = await subject.peek(CHECKPOINTS)
    assert (held["p"]["seq"], held["q"]["seq"]) == (10, 2)


async def test_each_mark_of_a_slot_raises_its_generation(subject: StoreUnderTest) -> None:
    assert await subject.store.marks("p") == {}
    await subject.store.save_position("p", 1, ["100", "101", "100"])
    await subject.store.save_position("p", 2, ["101"])
    await subject.store.save_position("q", 2, ["7"])
    assert await subject.store.marks("p") == {"100": 1, "101": 2}
    assert await subject.store.marks("q") == {"7": 1}


async def test_a_mark_is_cleared_only_at_the_generation_that_was_read(
    subject: StoreUnderTest,
) -> None:
    await subject.store.save_position("p", 1, ["100", "101"])
    await subject.store.save_position("p", 2, ["101"])  # marked again after it was read at 1
    await subject.store.clear_mark("p", "100", 1)
    await subject.store.clear_mark("p", "101", 1)
    await subject.store.clear_mark("p", "999", 1)  # never marked: nothing to do
    await subject.store.clear_mark("nobody", "100", 1)
    assert await subject.store.marks("p") == {"101": 2}


# --- stats -----------------------------------------------------------------------------------


async def test_slot_tasks_are_the_tasks_naming_the_slot_with_only_the_fields_asked(
    subject: StoreUnderTest,
) -> None:
    other = SLOT + timedelta(seconds=2)
    await insert(
        subject,
        TASKS,
        {"_id": "a", "name": "n", "worker": "w", "_slots": [SLOT, other]},
        {"_id": "b", "name": "m", "_slots": [other]},
        {"_id": "c", "name": "k", "worker": "v", "_slots": [SLOT]},
    )
    rows = await subject.store.slot_tasks(SLOT, ("name", "runtime"))
    assert sorted(rows, key=lambda r: r["_id"]) == [
        {"_id": "a", "name": "n"},
        {"_id": "c", "name": "k"},
    ]


async def test_tallies_are_replaced_per_slot_and_read_per_minute(subject: StoreUnderTest) -> None:
    def tally(app: str, slot: datetime, n: int) -> Doc:
        return {"_id": f"{app}/{slot:%H:%M:%S}", "app": app, "slot": slot, "counts": {"S": n}}

    later, next_minute = SLOT + timedelta(seconds=2), MINUTE + timedelta(minutes=1)
    await subject.store.put_tallies(SLOT, [tally("a", SLOT, 1), tally("b", SLOT, 1)])
    await subject.store.put_tallies(later, [tally("a", later, 5)])
    await subject.store.put_tallies(next_minute, [tally("a", next_minute, 9)])
    await subject.store.put_tallies(SLOT, [tally("a", SLOT, 2)])  # "b" has nothing left there
    got = await subject.store.minute_tallies(MINUTE)
    assert sorted((t["app"], t["slot"], t["counts"]["S"]) for t in got) == [
        ("a", SLOT, 2),
        ("a", later, 5),
    ]
    assert len(await subject.peek(STATS_SLOTS)) == 3


async def test_buckets_are_replaced_per_minute(subject: StoreUnderTest) -> None:
    def bucket(app: str, minute: datetime, n: int) -> Doc:
        return {"_id": f"{app}/{minute:%H:%M}", "app": app, "minute": minute, "counts": {"S": n}}

    next_minute = MINUTE + timedelta(minutes=1)
    await subject.store.put_buckets(MINUTE, [bucket("a", MINUTE, 1), bucket("b", MINUTE, 1)])
    await subject.store.put_buckets(next_minute, [bucket("a", next_minute, 4)])
    await subject.store.put_buckets(MINUTE, [bucket("a", MINUTE, 3)])
    held = await subject.peek(STATS)
    assert {k: d["counts"]["S"] for k, d in held.items()} == {"a/08:00": 3, "a/08:01": 4}


async def test_counters_are_replaced_per_level_and_period_and_totals_keep_registrations(
    subject: StoreUnderTest,
) -> None:
    def tally(level: str, app: str, at: datetime | None, n: int) -> Doc:
        return counts.document(level, app, at, {(counts.ALL, counts.ALL, "S"): counts.Cell(n)})

    await subject.store.register_apps(["a", "b"])
    await subject.store.register_apps(["a"])
    await subject.store.put_counts(
        "slot", SLOT, [tally("slot", "a", SLOT, 1), tally("slot", "b", SLOT, 1)]
    )
    await subject.store.put_counts("minute", SLOT, [tally("minute", "a", SLOT, 7)])
    await subject.store.put_counts("slot", SLOT, [tally("slot", "a", SLOT, 2)])  # b: none left
    later = SLOT + timedelta(seconds=2)
    await subject.store.put_counts("slot", later, [tally("slot", "a", later, 5)])
    got = await subject.store.count_tallies("slot", MINUTE, MINUTE + timedelta(minutes=1))
    assert sorted((t["app"], t["at"], t["n"]) for t in got) == [("a", SLOT, 2), ("a", later, 5)]
    assert [t["n"] for t in await subject.store.count_tallies("minute", None, None)] == [7]
    totals = await subject.store.count_tallies(counts.TOTAL, None, None)
    assert sorted((t["app"], t["n"], t["rows"]) for t in totals) == [("a", 0, []), ("b", 0, [])]
    await subject.store.put_counts(counts.TOTAL, None, [tally(counts.TOTAL, "a", None, 3)])
    await subject.store.register_apps(["a"])  # a registration never resets a count
    totals = await subject.store.count_tallies(counts.TOTAL, None, None)
    assert sorted((t["app"], t["n"]) for t in totals) == [("a", 3), ("b", 0)]


async def test_a_period_left_with_nothing_keeps_no_counters_and_the_others_stay(
    subject: StoreUnderTest,
) -> None:
    def tally(app: str, at: datetime, level: str = "slot") -> Doc:
        return counts.document(level, app, at, {(counts.ALL, counts.ALL, "S"): counts.Cell(1)})

    later = SLOT + timedelta(seconds=2)
    await subject.store.put_counts("slot", SLOT, [tally("a", SLOT), tally("b", SLOT)])
    await subject.store.put_counts("slot", later, [tally("a", later), tally("b", later)])
    await subject.store.put_counts("minute", MINUTE, [tally("a", MINUTE, "minute")])
    await subject.store.put_counts("slot", SLOT, [])
    got = await subject.store.count_tallies("slot", MINUTE, MINUTE + timedelta(minutes=1))
    assert sorted((t["app"], t["at"]) for t in got) == [("a", later), ("b", later)]
    assert len(await subject.store.count_tallies("minute", None, None)) == 1


async def test_counter_stamps_are_read_without_the_tallies(subject: StoreUnderTest) -> None:
    def stamped(app: str, at: datetime, stamp: str) -> Doc:
        tally = {(counts.ALL, counts.ALL, "S"): counts.Cell(1)}
        return {**counts.document("slot", app, at, tally), "stamp": stamp}

    later, next_minute = SLOT + timedelta(seconds=2), MINUTE + timedelta(minutes=1)
    await subject.store.put_counts("slot", SLOT, [stamped("a", SLOT, "s1")])
    await subject.store.put_counts("slot", later, [stamped("a", later, "s2")])
    await subject.store.put_counts("slot", next_minute, [stamped("a", next_minute, "s3")])
    got = await subject.store.count_stamps("slot", MINUTE, next_minute)
    assert sorted(got, key=lambda d: d["stamp"]) == [
        {"_id": counts.document_id("slot", "a", SLOT), "app": "a", "stamp": "s1"},
        {"_id": counts.document_id("slot", "a", later), "app": "a", "stamp": "s2"},
    ]
    assert len(await subject.store.count_stamps("slot", None, None)) == 3
    unstamped = counts.document("slot", "b", SLOT, {(counts.ALL, counts.ALL, "S"): counts.Cell(1)})
    await subject.store.put_counts("slot", SLOT, [stamped("a", SLOT, "s1"), unstamped])
    first, second = counts.document_id("slot", "a", SLOT), counts.document_id("slot", "b", SLOT)
    await subject.store.stamp_counts({first: "new", second: "new"})  # only where there is none
    held = {d["_id"]: d.get("stamp") for d in await subject.store.count_stamps("slot", None, None)}
    assert (held[first], held[second]) == ("s1", "new")


# --- workers and lost tasks ------------------------------------------------------------------


async def test_workers_are_read_with_only_the_fields_asked(subject: StoreUnderTest) -> None:
    await insert(subject, WORKERS, {"_id": "w1", "pid": 1, "freq": 2.0}, {"_id": "w2", "freq": 5.0})
    got = await subject.store.workers(("pid",))
    assert sorted(got, key=lambda d: d["_id"]) == [{"_id": "w1", "pid": 1}, {"_id": "w2"}]


async def test_unfinished_tasks_are_filtered_by_state_and_worker(
    subject: StoreUnderTest,
) -> None:
    await insert(
        subject,
        TASKS,
        {"_id": "a", "state": "STARTED", "worker": "w1", "name": "n"},
        {"_id": "b", "state": "RECEIVED", "worker": "w2"},
        {"_id": "c", "state": "SUCCESS", "worker": "w1"},
        {"_id": "d", "state": "STARTED"},
    )
    states = ["RECEIVED", "STARTED"]
    both = await subject.store.unfinished_tasks(["w1", "w2", "w3"], states, ("state",))
    assert sorted(d["_id"] for d in both) == ["a", "b"]
    on_w1 = await subject.store.unfinished_tasks(["w1"], states, ("state", "worker"))
    assert on_w1 == [{"_id": "a", "state": "STARTED", "worker": "w1"}]
    assert await subject.store.unfinished_tasks([], states, ("state",)) == []


async def test_a_flip_lands_only_where_what_it_was_decided_from_still_holds(
    subject: StoreUnderTest,
) -> None:
    await insert(
        subject,
        TASKS,
        {"_id": "a", "state": "STARTED", "lost": False},
        {"_id": "b", "state": "SUCCESS", "lost": False},  # finished since the decision
        {"_id": "c", "state": "STARTED"},  # never flagged: ``lost`` absent
    )
    flips = [
        Flip("a", True, {"state": "STARTED", "lost": False}),
        Flip("b", True, {"state": "STARTED", "lost": False}),
        Flip("c", True, {"state": "STARTED", "rejected": None}),  # absent counts as null
        Flip("gone", True, {"state": "STARTED"}),
    ]
    assert await subject.store.flag(flips) == 2
    assert await subject.store.flag([]) == 0
    held = await subject.peek(TASKS)
    assert (held["a"]["lost"], held["a"]["_v"]) == (True, 2)
    assert (held["b"]["lost"], held["b"]["_v"]) == (False, 1)
    assert (held["c"]["lost"], held["c"]["_v"]) == (True, 2)
    assert "gone" not in held
