"""The lifecycle counters a task document adds to: what /metrics exposes as totals."""

from __future__ import annotations

from datetime import UTC, datetime

from tasktrail_shared import counts
from tasktrail_shared.counts import EVENTS, SEP

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_one_per_lifecycle_time_and_the_run_time_histogram() -> None:
    doc = {"state": "SUCCESS", "name": "demo.add", "worker": "w1", "queue": "celery",
           "sent": AT, "received": AT, "started": AT, "succeeded": AT, "runtime": 0.3}  # fmt: skip
    cells = {key: cell.n for key, cell in counts.lifecycle_cells(doc)}
    joint = SEP.join(["demo.add", "w1", "celery"])
    assert {s: n for (d, v, s), n in cells.items() if not s.startswith(("le:", "runtime"))} == {
        "sent": 1, "received": 1, "started": 1, "succeeded": 1, "now:SUCCESS": 1,
        "prefetch:count": 1, "prefetch:ms": 0,
    }  # fmt: skip
    assert all(d == EVENTS and v == joint for d, v, _ in cells)
    assert cells[(EVENTS, joint, counts.RUNTIME_MS)] == 300
    assert cells[(EVENTS, joint, counts.RUNTIME_COUNT)] == 1
    assert sorted(s for _, _, s in cells if s.startswith("le:")) == sorted(
        ["le:0.5", "le:0.75", "le:1", "le:2.5", "le:5", "le:7.5", "le:10"]
    )


def test_a_failure_carries_its_exception_type_and_deleted_tasks_count_nothing() -> None:
    doc = {"state": "FAILURE", "name": "n", "worker": "w", "failed": AT,
           "exception": "ValueError('boom')"}  # fmt: skip
    cells = {key: cell.n for key, cell in counts.lifecycle_cells(doc)}
    assert cells == {
        (EVENTS, SEP.join(["n", "w", "", "ValueError"]), "failed"): 1,
        (EVENTS, SEP.join(["n", "w", ""]), "now:FAILURE"): 1,
    }
    assert counts.lifecycle_cells({**doc, "deleted": True}) == []


def test_a_counter_document_keeps_the_lifecycle_rows_apart_and_reads_back_whole() -> None:
    doc = {"state": "SUCCESS", "name": "demo.add", "worker": "w1", "queue": "celery",
           "timestamp": AT, "sent": AT, "received": AT, "started": AT, "succeeded": AT,
           "runtime": 0.3}  # fmt: skip
    tally: counts.Tally = {}
    for key in counts.task_keys(doc):
        counts.add(tally, key, counts.Cell.of(doc))
    for key, cell in counts.lifecycle_cells(doc):
        counts.add(tally, key, cell)
    stored = counts.document(counts.TOTAL, "c1", None, tally)
    state_rows, lifecycle_rows = stored[counts.STATE_ROWS], stored[counts.LIFECYCLE_ROWS]
    # what every list and the dashboard read holds no lifecycle row...
    assert {r["d"] for r in state_rows} == {counts.ALL, *counts.DIMENSIONS}
    assert all("lo" in r and "hi" in r for r in state_rows)  # the times a list starts from
    # ...and the lifecycle rows, which have no times, store none
    assert {r["d"] for r in lifecycle_rows} == {EVENTS}
    assert not any("lo" in r or "hi" in r for r in lifecycle_rows)
    kept = {key: cell for key, cell in tally.items() if cell.n}  # zero cells are not stored
    assert counts.stored(stored) == kept
    # a document written before the two were apart holds everything in the first field;
    # it predates the label counters too, and says so
    earlier = {"rows": [*state_rows, *lifecycle_rows]}
    assert counts.stored(earlier) == {**kept, counts.UNKNOWN: counts.Cell(1)}


def test_the_totals_keep_the_lifecycle_counters_in_a_document_of_their_own() -> None:
    doc = {"state": "FAILURE", "name": "n", "worker": "w", "queue": "q", "timestamp": AT,
           "failed": AT, "exception": "ValueError('boom')"}  # fmt: skip
    tally: counts.Tally = {}
    for key in counts.task_keys(doc):
        counts.add(tally, key, counts.Cell.of(doc))
    for key, cell in counts.lifecycle_cells(doc):
        counts.add(tally, key, cell)
    whole, lifecycle, labels = counts.total_documents("c1", tally)
    assert (labels["_id"], labels["level"], labels["labels"]) == (
        "total-labels/c1",
        "total-labels",
        [],
    )
    assert (whole["_id"], whole["level"]) == ("total/c1", counts.TOTAL)
    assert (lifecycle["_id"], lifecycle["level"]) == ("total-lifecycle/c1", "total-lifecycle")
    assert counts.stored(whole) == {k: c for k, c in tally.items() if k[0] != EVENTS}
    assert counts.stored(lifecycle) == {k: c for k, c in tally.items() if k[0] == EVENTS}
    assert whole["n"] == lifecycle["n"] == 1
