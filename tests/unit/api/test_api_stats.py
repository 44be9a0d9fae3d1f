"""``/monitor/stats`` in pure form: buckets summed into steps, one name or worker picked out,
empty steps kept, and percentiles from the run-time histogram."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tasktrail_api.domain.stats import (
    StatsFilters,
    bucket_query,
    name_metrics,
    percentile,
    series,
)

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


def test_percentiles_are_interpolated_within_their_bin() -> None:
    hist, edges = [1, 1, 2, 0, 1], [0.01, 0.1, 0.5, 1.0]
    assert percentile(hist, edges, 0.5) == pytest.approx(0.2)  # a quarter into [0.1, 0.5)
    assert percentile(hist, edges, 0.2) == pytest.approx(0.01)
    assert percentile(hist, edges, 0.99) == 1.0  # the open bin, no largest value: its floor
    assert percentile(hist, edges, 0.99, high=3.0) == pytest.approx(2.9)
    assert percentile(hist, edges, 0.0, low=0.005) == pytest.approx(0.005)
    assert percentile([0, 0], edges, 0.5) is None


EDGES = (0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)
"""The projector's bins (``tasktrail_projector.domain.stats.EDGES``)."""


def histogram(samples: list[float]) -> list[int]:
    """As the projector bins run times: bin ``i`` holds ``EDGES[i-1] <= v < EDGES[i]``."""
    bins = [0] * (len(EDGES) + 1)
    for value in samples:
        bins[next((i for i, edge in enumerate(EDGES) if value < edge), len(EDGES))] += 1
    return bins


def bin_width(value: float, low: float, high: float) -> float:
    """The width of ``value``'s bin, narrowed to the values seen."""
    i = next((i for i, edge in enumerate(EDGES) if value < edge), len(EDGES))
    floor = max(EDGES[i - 1] if i else 0.0, low)
    ceiling = min(EDGES[i] if i < len(EDGES) else high, high)
    return ceiling - floor


@settings(max_examples=300, deadline=None)
@given(
    samples=st.lists(
        st.floats(min_value=0.0, max_value=1000.0, allow_nan=False), min_size=1, max_size=200
    ),
    q=st.sampled_from([0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0]),
)
def test_a_percentile_is_within_its_bin_of_the_exact_one(samples: list[float], q: float) -> None:
    """The exact nearest-rank quantile of the samples and the estimate from their histogram
    fall in the same bin, so they differ by at most that bin's width."""
    ordered = sorted(samples)
    exact = ordered[max(math.ceil(q * len(ordered)), 1) - 1]
    low, high = ordered[0], ordered[-1]
    estimate = percentile(histogram(samples), EDGES, q, low, high)
    assert estimate is not None and low <= estimate <= high
    assert abs(estimate - exact) <= bin_width(exact, low, high) + 1e-9


def test_metrics_per_name_sum_every_minute_and_cluster() -> None:
    def named(name: str, counts: dict[str, int], runtime: dict[str, Any] | None) -> dict[str, Any]:
        return {"names": [{"name": name, "counts": counts, "runtime": runtime}]}

    hist = [0, 0, 1, 1, 0, 0, 0, 0, 0, 0]
    fast = {"count": 2, "sum": 1.0, "min": 0.2, "max": 0.8, "hist": hist, "edges": list(EDGES)}
    rows = name_metrics(
        [
            named("a", {"SUCCESS": 2, "FAILURE": 1}, fast),
            {**named("a", {"SUCCESS": 2}, fast), "app": "other"},
            named("b", {"RECEIVED": 5}, None),
        ]
    )
    assert [m.name for m in rows] == ["a", "b"]
    a, b = rows
    assert a.counts == {"SUCCESS": 4, "FAILURE": 1} and a.finished == 5
    assert a.success_rate == pytest.approx(0.8) and a.runs == 4 and a.mean == pytest.approx(0.5)
    assert a.slowest == 0.8 and a.percentiles[0] == pytest.approx(0.5)  # the edge of two bins
    assert b.success_rate is None and b.percentiles == (None, None, None) and b.runs == 0
