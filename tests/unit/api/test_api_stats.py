"""``/monitor/stats`` in pure form: buckets summed into steps, one name or worker picked out,
empty steps kept, and percentiles from the run-time histogram."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tasktrail_api.domain.stats import StatsFilters, bucket_query, percentile, series

T0 = datetime(2030, 1, 1, 10, 0, tzinfo=UTC)


def bucket(minute: int, app: str = "a", **counts: int) -> dict[str, Any]:
    runtime = {"count": 2, "sum": 3.0, "min": 1.0, "max": 2.0, "hist": [0, 0, 0, 1, 1],
               "edges": [0.01, 0.1, 0.5, 1.0]}  # fmt: skip
    return {
        "app": app,
        "minute": T0 + timedelta(minutes=minute),
        "counts": counts,
        "runtime": runtime,
        "names": [{"name": "demo.add", "counts": {"SUCCESS": 1}, "runtime": None}],
        "workers": [{"worker": "w1", "counts": {"FAILURE": 1}}],
    }


def test_buckets_are_summed_into_steps_with_empty_steps_kept() -> None:
    filters = StatsFilters(after=T0, before=T0 + timedelta(minutes=4), step=120)
    after, before = filters.span(T0)
    assert bucket_query(filters, after, before) == {"minute": {"$gte": after, "$lt": before}}
    steps = series(
        [bucket(0, SUCCESS=2), bucket(1, app="b", SUCCESS=1, FAILURE=1)], filters, after, before
    )
    assert [s["counts"] for s in steps] == [{"SUCCESS": 3, "FAILURE": 1}, {}]
    assert steps[0]["runtime"]["count"] == 4 and steps[0]["runtime"]["hist"] == [0, 0, 0, 2, 2]
    assert steps[1]["runtime"] is None and steps[1]["time"] == T0 + timedelta(minutes=2)


def test_one_name_or_one_worker() -> None:
    by_name = StatsFilters(after=T0, before=T0 + timedelta(minutes=1), name="demo.add")
    assert series([bucket(0, SUCCESS=5)], by_name, *by_name.span(T0))[0]["counts"] == {"SUCCESS": 1}
    by_worker = StatsFilters(after=T0, before=T0 + timedelta(minutes=1), worker="w1")
    step = series([bucket(0, SUCCESS=5)], by_worker, *by_worker.span(T0))[0]
    assert step["counts"] == {"FAILURE": 1} and step["runtime"] is None
    with pytest.raises(ValueError, match="not both"):
        StatsFilters(name="x", worker="y")


def test_ranges_are_bounded() -> None:
    with pytest.raises(ValueError, match="steps"):
        StatsFilters(after=T0 - timedelta(days=30), before=T0).span(T0)
    with pytest.raises(ValueError, match="before"):
        StatsFilters(after=T0, before=T0 - timedelta(minutes=5)).span(T0)
    default = StatsFilters().span(T0)
    assert default == (T0 - timedelta(hours=1), T0)


def test_percentiles_from_the_histogram() -> None:
    hist, edges = [1, 1, 2, 0, 1], [0.01, 0.1, 0.5, 1.0]
    assert percentile(hist, edges, 0.5) == 0.5
    assert percentile(hist, edges, 0.2) == 0.01
    assert percentile(hist, edges, 0.99) == math.inf
    assert percentile([0, 0], edges, 0.5) is None
