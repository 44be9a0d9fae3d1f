"""``GET /monitor/stats``: the projector's per-minute buckets (``stats``) over a time range,
summed into steps, for all tasks or one task name or one worker. Pure.

A bucket holds, per minute and cluster, task counts per state (a task counts once in the
minute of each lifecycle time it has) and run-time statistics with a histogram (``EDGES``:
upper bounds in seconds, the last bin holds everything slower); per task name counts and
run-time statistics, per worker counts. Percentiles come from the histogram: the upper edge
of the bin the rank falls in, so an estimate never below the true value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

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


def percentile(hist: list[int], edges: list[float], q: float) -> float | None:
    """The upper edge of the histogram bin holding the ``q`` quantile (``inf`` past the
    last edge); ``None`` without data."""
    total = sum(hist)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, n in enumerate(hist):
        seen += n
        if seen >= rank and n:
            return edges[i] if i < len(edges) else math.inf
    return math.inf
