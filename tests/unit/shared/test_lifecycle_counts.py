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
