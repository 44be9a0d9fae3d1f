"""The label counters: one per label value, typed as a list filter tells values apart, capped
per period, and never used when a part of them is unknown (docs/decisions/0026)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tasktrail_shared import counts
from tasktrail_shared.counts import ALL, LABEL, OVER, UNKNOWN, Cell

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def tally_of(*docs: dict[str, object]) -> counts.Tally:
    tally: counts.Tally = {}
    for doc in docs:
        for key, cell in counts.label_cells(doc):
            counts.add(tally, key, cell)
    return tally


def task(labels: dict[str, object], at: datetime = AT, **fields: object) -> dict[str, object]:
    return {"state": "SUCCESS", "timestamp": at, "labels": labels, **fields}


def test_values_are_keyed_as_a_filter_matches_them() -> None:
    assert counts.label_value("cidr-7") == "scidr-7"
    assert counts.label_value(7) == counts.label_value(7.0) == "n7"
    assert counts.label_value("7") == "s7"  # the text "7" is not the number 7
    assert counts.label_value(True) is None  # no filter matches a flag...
    assert counts.label_value(7.5) is None  # ...or a fraction


def test_each_value_counts_its_tasks_in_every_state_with_their_timestamps() -> None:
    later = AT + timedelta(seconds=5)
    tally = tally_of(
        task({"cidr": "c1", "asn": 64500}),
        task({"cidr": "c1"}, later, state="FAILURE"),
        task({"cidr": "c2", "flag": True}),
        task({"cidr": "c1"}, deleted=True),  # deleted tasks count nowhere
    )
    assert tally == {
        (f"{LABEL}asn", "n64500", ALL): Cell(1, (AT, None, None, None), (AT, None, None, None)),
        (f"{LABEL}cidr", "sc1", ALL): Cell(2, (AT, None, None, None), (later, None, None, None)),
        (f"{LABEL}cidr", "sc2", ALL): Cell(1, (AT, None, None, None), (AT, None, None, None)),
    }
    assert counts.label_count(tally, "cidr", ["c1"]) == tally[(f"{LABEL}cidr", "sc1", ALL)]
    assert counts.label_count(tally, "asn", [64500, "64500"]) == Cell(
        1, (AT, None, None, None), (AT, None, None, None)
    )
    assert counts.label_count(tally, "cidr", ["c9"]) == Cell(0)  # counted: none has it
    # stored with the one time they keep, and read back the same
    rows = counts.document("slot", "a", AT, tally)[counts.LABEL_ROWS]
    assert all(len(r["lo"]) == len(r["hi"]) == 1 for r in rows)
    assert counts.stored(counts.document("slot", "a", AT, tally)) == tally


def test_a_label_of_too_many_values_is_one_over_row_at_every_level() -> None:
    two = tally_of(task({"cidr": "c1", "asn": 1}), task({"cidr": "c2", "asn": 1}))
    assert counts.capped(two, 2) == two  # at the cap: kept
    three = counts.capped(counts.summed([tally_of(task({"cidr": "c3", "asn": 1})), two]), 2)
    assert three == {
        (f"{LABEL}cidr", OVER, ALL): Cell(1),
        (f"{LABEL}asn", "n1", ALL): Cell(3, (AT, None, None, None), (AT, None, None, None)),
    }
    assert counts.label_count(three, "cidr", ["c1"]) is None
    assert counts.label_count(three, "asn", [1]) is not None
    # a sum with an over part is over, however few values the other parts have
    one = tally_of(task({"cidr": "c1"}))
    assert (f"{LABEL}cidr", OVER, ALL) in counts.capped(counts.summed([three, one]), 2)
    assert (f"{LABEL}cidr", OVER, ALL) in counts.capped(counts.summed([three, one]), 1000)


def test_a_document_from_before_the_label_counters_makes_them_unknown() -> None:
    tally = tally_of(task({"cidr": "c1"}))
    earlier: dict[str, list[object]] = {counts.STATE_ROWS: [], counts.LIFECYCLE_ROWS: []}
    summed = counts.summed([tally, counts.stored(earlier)])
    assert UNKNOWN in summed
    assert counts.label_count(summed, "cidr", ["c1"]) is None
    # the mark is stored with the label rows, so it reaches every level above
    assert UNKNOWN in counts.stored(counts.document("minute", "a", AT, summed))
    assert counts.capped(summed)[UNKNOWN] == Cell(1)
