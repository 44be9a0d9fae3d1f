"""``GET /monitor/stats``: the projector's per-minute buckets (``stats``) over a time range,
summed into steps, for all tasks or one task name or one worker. Pure.

A bucket holds, per minute and cluster, task counts per state (a task counts once in the
minute of each lifecycle time it has) and run-time statistics with a histogram (``EDGES``:
upper bounds in seconds, the last bin holds everything slower); per task name counts and
run-time statistics with a histogram, per worker counts. Percentiles come from the
histogram, interpolated within the bin the rank falls in (:func:`percentile`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator
from tasktrail_shared.states import FAILURE, SUCCESS

from tasktrail_api.domain.filters import Text

MAX_STEPS = 2000
"""Steps one answer holds at most: a week by the minute is about 10k, so pick a wider step."""
DEFAULT_SPAN = timedelta(hours=1)


class StatsFilters(BaseModel):
    model_config = ConfigDict(extra="ignore")

    after: AwareDatetime | None = None
    """Inclusive; default: ``before`` minus an hour."""
    before: AwareDatetime | None = None
    """Exclusive; default: now."""
    step: int = Field(default=60, ge=60, le=7 * 86400, multiple_of=60)
    """Seconds per step, whole minutes."""
    name: Text | None = None
    worker: Text | None = None
    app: Text | None = None

    @model_validator(mode="after")
    def _one_breakdown(self) -> StatsFilters:
        if self.name is not None and self.worker is not None:
            raise ValueError("give name or worker, not both")
        return self

    def span(self, now: datetime) -> tuple[datetime, datetime]:
        """``(after, before)`` aligned to whole steps; BadRequest-worthy if too many steps."""
        before = self.before or now
        after = self.after or before - DEFAULT_SPAN
        start = _floor(after, self.step)
        if before <= start:
            raise ValueError("'after' must be before 'before'")
        if (before - start).total_seconds() / self.step > MAX_STEPS:
            raise ValueError(f"at most {MAX_STEPS} steps: widen 'step' or narrow the range")
        return start, before


def _floor(moment: datetime, step: int) -> datetime:
    epoch = moment.timestamp()
    return datetime.fromtimestamp(epoch - epoch % step, moment.tzinfo)


def bucket_query(filters: StatsFilters, after: datetime, before: datetime) -> dict[str, Any]:
    query: dict[str, Any] = {"minute": {"$gte": after, "$lt": before}}
    if filters.app is not None:
        query["app"] = filters.app
    return query


def _part(bucket: Mapping[str, Any], filters: StatsFilters) -> tuple[dict[str, Any], Any]:
    """The counts and run-time summary of the bucket's slice the filters ask for."""
    if filters.name is not None:
        named = [e for e in bucket.get("names") or [] if e.get("name") == filters.name]
        return (
            (dict(named[0].get("counts") or {}), named[0].get("runtime")) if named else ({}, None)
        )
    if filters.worker is not None:
        rows = [e for e in bucket.get("workers") or [] if e.get("worker") == filters.worker]
        return dict(rows[0].get("counts") or {}) if rows else {}, None
    return dict(bucket.get("counts") or {}), bucket.get("runtime")


class _Step:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.count = 0
        self.sums: list[float] = []
        self.low: float | None = None
        self.high: float | None = None
        self.hist: list[int] = []
        self.edges: list[float] = []

    def add(self, counts: Mapping[str, Any], runtime: Any) -> None:
        for state, n in counts.items():
            self.counts[state] = self.counts.get(state, 0) + int(n)
        if not isinstance(runtime, Mapping) or not runtime.get("count"):
            return
        self.count += int(runtime["count"])
        self.sums.append(float(runtime.get("sum") or 0.0))
        low, high = runtime.get("min"), runtime.get("max")
        if isinstance(low, int | float):
            self.low = low if self.low is None else min(self.low, low)
        if isinstance(high, int | float):
            self.high = high if self.high is None else max(self.high, high)
        hist = runtime.get("hist")
        if isinstance(hist, list):
            self.hist = [
                a + int(b) for a, b in zip(self.hist or [0] * len(hist), hist, strict=True)
            ]
            self.edges = list(runtime.get("edges") or self.edges)

    def shown(self, at: datetime) -> dict[str, Any]:
        runtime = None
        if self.count:
            runtime = {
                "count": self.count,
                "sum": math.fsum(self.sums),
                "min": self.low,
                "max": self.high,
                "hist": self.hist or None,
                "edges": self.edges or None,
            }
        return {"time": at, "counts": self.counts, "runtime": runtime}


def series(
    buckets: Iterable[Mapping[str, Any]], filters: StatsFilters, after: datetime, before: datetime
) -> list[dict[str, Any]]:
    """One entry per step from ``after`` to ``before`` (empty steps included), clusters summed."""
    steps: list[_Step] = []
    at = after
    while at < before:
        steps.append(_Step())
        at += timedelta(seconds=filters.step)
    for bucket in buckets:
        minute = bucket.get("minute")
        if not isinstance(minute, datetime):
            continue
        index = int((minute - after).total_seconds() // filters.step)
        if 0 <= index < len(steps):
            steps[index].add(*_part(bucket, filters))
    return [s.shown(after + timedelta(seconds=i * filters.step)) for i, s in enumerate(steps)]


def percentile(
    hist: Sequence[int],
    edges: Sequence[float],
    q: float,
    low: float | None = None,
    high: float | None = None,
) -> float | None:
    """The ``q`` quantile (0 to 1) of the values a run-time histogram counts, interpolated
    linearly within the bin it falls in; ``None`` without data.

    Bin ``i`` holds ``edges[i-1] <= v < edges[i]`` (the first from 0, the last everything
    from the last edge up). The rank ``q * total`` falls in one bin; the estimate moves
    through that bin's span in proportion to how far into its count the rank lies, as if its
    values were spread evenly. ``low`` and ``high`` (the smallest and largest value seen)
    narrow the first and last bins with data, so the open last bin has an end; without
    ``high`` a rank in the open bin answers its lower edge (a lower bound). The exact
    nearest-rank quantile lies in the same bin, so the error is at most that bin's width.
    """
    total = sum(hist)
    if total <= 0:
        return None
    rank = min(max(q, 0.0), 1.0) * total
    seen = 0
    for i, n in enumerate(hist):
        if n <= 0 or seen + n < rank:
            seen += n
            continue
        floor = edges[i - 1] if i > 0 else 0.0
        ceiling = edges[i] if i < len(edges) else (high if high is not None else floor)
        if low is not None:
            floor = min(max(floor, low), ceiling)
        if high is not None:
            ceiling = max(min(ceiling, high), floor)
        share = max(rank - seen, 0.0) / n
        return min(floor + (ceiling - floor) * share, ceiling)  # rounding stays in the bin
    return high


QUANTILES = (0.5, 0.95, 0.99)
"""The run-time percentiles the metrics page shows."""


@dataclass(frozen=True, slots=True)
class NameMetrics:
    """One task name over a time range: its counts, success rate and run times."""

    name: str
    counts: dict[str, int]
    runs: int
    """Run times counted (tasks that succeeded with one)."""
    mean: float | None
    slowest: float | None
    percentiles: tuple[float | None, ...]
    """At :data:`QUANTILES`, from the histogram (``None`` when no minute had one)."""

    @property
    def finished(self) -> int:
        return self.counts.get(SUCCESS, 0) + self.counts.get(FAILURE, 0)

    @property
    def success_rate(self) -> float | None:
        """Succeeded among those that finished (succeeded or failed); ``None`` if none did."""
        return self.counts.get(SUCCESS, 0) / self.finished if self.finished else None


def name_metrics(buckets: Iterable[Mapping[str, Any]]) -> list[NameMetrics]:
    """Every task name the buckets hold, their counts and run times summed over them (all
    clusters alike), busiest first. Percentiles come from the minutes that have a per-name
    histogram (every minute the projector has counted since it keeps one)."""
    summed: dict[str, _Step] = {}
    for bucket in buckets:
        for entry in bucket.get("names") or []:
            name = entry.get("name")
            if isinstance(name, str):
                summed.setdefault(name, _Step()).add(
                    entry.get("counts") or {}, entry.get("runtime")
                )
    rows = [_metrics(name, step) for name, step in summed.items()]
    return sorted(rows, key=lambda m: (-m.finished, -sum(m.counts.values()), m.name))


def _metrics(name: str, step: _Step) -> NameMetrics:
    if not step.count:
        return NameMetrics(name, step.counts, 0, None, None, (None,) * len(QUANTILES))
    quantiles = tuple(percentile(step.hist, step.edges, q, step.low, step.high) for q in QUANTILES)
    mean = math.fsum(step.sums) / step.count
    return NameMetrics(name, step.counts, step.count, mean, step.high, quantiles)
