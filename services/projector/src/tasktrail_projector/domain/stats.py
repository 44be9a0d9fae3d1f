"""Per-minute statistics, recomputed from the task documents, never incremented.

A task counts once in the minute of each lifecycle time it has, under the state that time
belongs to (received at 10:01 and succeeded at 10:02: RECEIVED in 10:01, SUCCESS in 10:02),
by task name and by worker; its runtime counts in its ``succeeded`` minute (sum, min, max and
a histogram, for the cluster and for each task name: the metrics page's percentiles per name
come from the latter). Deleted tasks do not count.

Recomputation goes through 2-second slots: a slot's *tally* (an internal ``stats_slots``
document) is a pure function of the task documents whose ``_slots`` name it, and a minute's
*bucket* (the public ``stats`` document) is the sum of its thirty slots' tallies. Each recomputation
therefore reads at most two seconds of tasks (a short pause for the database, not a stall),
and the result is exact however often events were duplicated or replayed. Sums use
``math.fsum``, whose result does not depend on the order of its inputs; neither does a
bucket.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tasktrail_projector.domain.tasks import SLOT_SECONDS, STATE_TIME, slot_start

FIELD_STATE = {time_field: state for state, time_field in STATE_TIME.items()}
TALLIED_FIELDS = ("app", "name", "worker", "runtime", "deleted", *FIELD_STATE)
"""What a tally needs from each task document."""
EDGES = (0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Runtime histogram bin upper bounds in seconds; the last bin holds everything slower."""


def slot_key(moment: datetime) -> str:
    """A slot as a short, field-name-safe key (how a mark names it): slot periods since the
    epoch."""
    return str(int(slot_start(moment).timestamp()) // SLOT_SECONDS)


def slot_from_key(key: str) -> datetime:
    return datetime.fromtimestamp(int(key) * SLOT_SECONDS, UTC)


def minute_of(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def contributions(doc: Mapping[str, Any] | None) -> set[tuple[Any, ...]]:
    """What a task document adds to the slots it counts in, as comparable tuples."""
    if not doc or doc.get("deleted"):
        return set()
    out = set()
    for time_field, state in FIELD_STATE.items():
        at = doc.get(time_field)
        if isinstance(at, datetime):
            runtime = _runtime(doc.get("runtime")) if time_field == "succeeded" else None
            app, name, worker = doc.get("app"), doc.get("name"), doc.get("worker")
            out.add((slot_start(at), state, app, name, worker, runtime))
    return out


def changed_slots(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> set[datetime]:
    """The slots whose tallies a change from ``old`` to ``new`` can alter."""
    return {c[0] for c in contributions(old) ^ contributions(new)}


def bucket_id(app: str | None, minute: datetime) -> str:
    """``<app>/2027-01-15T08:00Z``: the public bucket of a minute."""
    return f"{app or ''}/{minute:%Y-%m-%dT%H:%MZ}"


def tally_id(app: str | None, slot: datetime) -> str:
    """``<app>/2027-01-15T08:00:10Z``: the tally of a slot."""
    return f"{app or ''}/{slot:%Y-%m-%dT%H:%M:%SZ}"


@dataclass(slots=True)
class _Runtimes:
    """Runtime statistics that combine exactly: counts add, sums are re-summed with fsum."""

    count: int = 0
    sums: list[float] = field(default_factory=list)
    low: float | None = None
    high: float | None = None
    bins: list[int] = field(default_factory=lambda: [0] * (len(EDGES) + 1))

    def add(self, value: float) -> None:
        self.merge({"count": 1, "sum": value, "min": value, "max": value, "hist": None})
        self.bins[next((i for i, edge in enumerate(EDGES) if value < edge), len(EDGES))] += 1

    def merge(self, summary: Mapping[str, Any] | None) -> None:
        if not summary:
            return
        self.count += int(summary["count"])
        self.sums.append(float(summary["sum"]))
        low, high = float(summary["min"]), float(summary["max"])
        self.low = low if self.low is None else min(self.low, low)
        self.high = high if self.high is None else max(self.high, high)
        for i, n in enumerate(summary.get("hist") or []):
            self.bins[i] += int(n)

    def summary(self, histogram: bool) -> dict[str, Any] | None:
        if not self.count:
            return None
        out: dict[str, Any] = {
            "count": self.count,
            "sum": math.fsum(self.sums),
            "min": self.low,
            "max": self.high,
        }
        if histogram:
            out["hist"] = list(self.bins)
            out["edges"] = list(EDGES)
        return out


def _counter() -> defaultdict[str, int]:
    return defaultdict(int)


@dataclass(slots=True)
class _Tally:
    counts: defaultdict[str, int] = field(default_factory=_counter)
    names: defaultdict[str | None, defaultdict[str, int]] = field(
        default_factory=lambda: defaultdict(_counter)
    )
    name_runtimes: defaultdict[str | None, _Runtimes] = field(
        default_factory=lambda: defaultdict(_Runtimes)
    )
    workers: defaultdict[str, defaultdict[str, int]] = field(
        default_factory=lambda: defaultdict(_counter)
    )
    runtimes: _Runtimes = field(default_factory=_Runtimes)

    def count(self, state: str, name: str | None, worker: object, n: int = 1) -> None:
        self.counts[state] += n
        self.names[name][state] += n
        if isinstance(worker, str):
            self.workers[worker][state] += n

    def absorb(self, doc: Mapping[str, Any]) -> None:
        """Add a slot's tally document."""
        for state, n in doc["counts"].items():
            self.counts[state] += n
        for entry in doc["names"]:
            for state, n in entry["counts"].items():
                self.names[entry["name"]][state] += n
            if entry.get("runtime"):
                self.name_runtimes[entry["name"]].merge(entry["runtime"])
        for entry in doc["workers"]:
            for state, n in entry["counts"].items():
                self.workers[entry["worker"]][state] += n
        self.runtimes.merge(doc["runtime"])

    def document(self) -> dict[str, Any]:
        return {
            "counts": _sorted(self.counts),
            "runtime": self.runtimes.summary(histogram=True),
            "names": [
                {
                    "name": name,
                    "counts": _sorted(counts),
                    "runtime": self.name_runtimes[name].summary(histogram=True)
                    if name in self.name_runtimes
                    else None,
                }
                for name, counts in sorted(self.names.items(), key=lambda kv: kv[0] or "")
            ],
            "workers": [
                {"worker": worker, "counts": _sorted(counts)}
                for worker, counts in sorted(self.workers.items())
            ],
        }


def _runtime(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value) if value >= 0 else None
    return None


def _sorted(counts: Mapping[str, int]) -> dict[str, int]:
    return {state: counts[state] for state in sorted(counts)}


def slot_tallies(moment: datetime, rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The tallies of the 2-second slot ``moment`` is in, one per app with something in it."""
    moment = slot_start(moment)
    by_app: defaultdict[str | None, _Tally] = defaultdict(_Tally)
    for row in rows:
        if row.get("deleted"):
            continue
        name = row.get("name") if isinstance(row.get("name"), str) else None
        for time_field, state in FIELD_STATE.items():
            at = row.get(time_field)
            if not isinstance(at, datetime) or slot_start(at) != moment:
                continue
            tally = by_app[row.get("app")]
            tally.count(state, name, row.get("worker"))
            runtime = _runtime(row.get("runtime")) if time_field == "succeeded" else None
            if runtime is not None:
                tally.runtimes.add(runtime)
                tally.name_runtimes[name].add(runtime)
    return [
        {
            "_id": tally_id(app, moment),
            "app": app,
            "slot": moment,
            **t.document(),
        }
        for app, t in sorted(by_app.items(), key=lambda kv: kv[0] or "")
    ]


def minute_buckets(moment: datetime, tallies: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The public buckets of minute ``moment``: the sum of its slots' tallies, per app."""
    moment = minute_of(moment)
    by_app: defaultdict[str | None, _Tally] = defaultdict(_Tally)
    for doc in sorted(tallies, key=lambda d: (d["slot"], d.get("app") or "")):
        if minute_of(doc["slot"]) == moment:
            by_app[doc.get("app")].absorb(doc)
    return [
        {"_id": bucket_id(app, moment), "app": app, "minute": moment, **t.document()}
        for app, t in sorted(by_app.items(), key=lambda kv: kv[0] or "")
    ]
