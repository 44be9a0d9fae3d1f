"""``/metrics``: the Prometheus text exposition, from the read models alone. Pure.

The names and labels are celery-exporter's (``celery_task_*_total`` by ``name``,
``hostname``, ``queue_name``; ``celery_task_runtime``; ``celery_worker_up``,
``celery_worker_tasks_active``; ``celery_queue_length``) and Flower's (``flower_events_total``,
``flower_task_runtime_seconds``, ``flower_worker_online``,
``flower_worker_number_of_currently_executing_tasks``, ``flower_worker_prefetched_tasks``,
``flower_task_prefetch_time_seconds``), so their Grafana dashboards read
tasktrail unchanged. Task totals come from the projector's lifecycle counters
(``tasktrail_shared.counts.EVENTS``): durable, cluster-wide, the same from every API replica,
and growing as tasks go through their lifecycle, across restarts of every service.

Label cardinality is bounded: beyond ``limit`` task names (and ``limit`` workers), the least
busy are folded into ``other``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tasktrail_shared import counts
from tasktrail_shared.counts import (
    EVENTS,
    LIFECYCLE,
    NOW,
    PREFETCH_COUNT,
    PREFETCH_MS,
    RUNTIME_COUNT,
    RUNTIME_EDGES,
    RUNTIME_MS,
)
from tasktrail_shared.exposition import Buckets, Exposition, Labels
from tasktrail_shared.states import RECEIVED

from tasktrail_api.domain.serializers import is_online

OTHER = "other"
HELP = {
    "sent": "Sent when a task message is published.",
    "received": "Sent when the worker receives a task.",
    "started": "Sent just before the worker executes the task.",
    "succeeded": "Sent if the task executed successfully.",
    "failed": "Sent if the execution of the task failed.",
    "retried": "Sent if the task failed, but will be retried in the future.",
    "revoked": "Sent if the task has been revoked.",
    "rejected": "The task was rejected by the worker.",
}
WORKER_ACTIVE_HELP = "The number of tasks the worker is currently processing"
EXECUTING_HELP = "Number of tasks currently executing at a worker"
PREFETCH_HELP = (
    "The time the task spent waiting at the celery worker to be executed (here: the mean over "
    "the tasks of that name and worker kept)."
)
PREFETCHED_HELP = "Number of tasks of given type prefetched at a worker"


@dataclass(slots=True)
class _Runs:
    count: int = 0
    ms: int = 0
    le: Counter[str] = field(default_factory=Counter)
    waits: int = 0
    wait_ms: int = 0
    prefetched: int = 0
    """Tasks received and not started yet (state ``RECEIVED``)."""


@dataclass(slots=True)
class Lifecycle:
    """The lifecycle counters of the clusters in scope, summed: ``events[field][(name,
    worker, queue, exception)]`` and the run times per ``(name, worker, queue)``."""

    events: dict[str, Counter[tuple[str, ...]]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    runs: dict[tuple[str, ...], _Runs] = field(default_factory=lambda: defaultdict(_Runs))

    @classmethod
    def of(cls, totals: Iterable[Mapping[str, Any]]) -> Lifecycle:
        out = cls()
        for doc in totals:
            for (d, v, s), cell in counts.stored(doc).items():
                if d == EVENTS:
                    out.add(counts.labels_of(v), s, cell.n)
        return out

    def add(self, parts: list[str], state: str, n: int) -> None:
        parts = ([*parts, "", "", "", ""])[:4]
        if state in LIFECYCLE:
            self.events[state][tuple(parts)] += n
            return
        runs = self.runs[tuple(parts[:3])]
        if state == RUNTIME_COUNT:
            runs.count += n
        elif state == RUNTIME_MS:
            runs.ms += n
        elif state.startswith("le:"):
            runs.le[state[3:]] += n
        elif state == PREFETCH_COUNT:
            runs.waits += n
        elif state == PREFETCH_MS:
            runs.wait_ms += n
        elif state == f"{NOW}{RECEIVED}":
            runs.prefetched += n

    def busiest(self, position: int) -> Counter[str]:
        """How many lifecycle events each task name (0) or worker (1) has: what folding ranks."""
        ranked: Counter[str] = Counter()
        for tallied in self.events.values():
            for parts, n in tallied.items():
                ranked[parts[position]] += n
        return ranked


def keep(ranked: Mapping[str, int], limit: int) -> frozenset[str]:
    """The ``limit`` busiest values (ties by name), the ones that keep their own label."""
    order = sorted(ranked, key=lambda value: (-ranked[value], value))
    return frozenset(order[:limit])


def _buckets(runs: _Runs) -> Buckets:
    le = [(edge, float(runs.le[f"{edge:g}"])) for edge in RUNTIME_EDGES]
    return Buckets(le, runs.count, runs.ms / 1000)


@dataclass(frozen=True, slots=True)
class Folding:
    names: frozenset[str]
    workers: frozenset[str]

    def name(self, value: str) -> str:
        return value if value in self.names or not value else OTHER

    def worker(self, value: str) -> str:
        return value if value in self.workers or not value else OTHER


def _tasks(out: Exposition, life: Lifecycle, fold: Folding) -> None:
    flower: Counter[Labels] = Counter()
    for state in LIFECYCLE:
        samples: Counter[Labels] = Counter()
        for (name, worker, queue, exception), n in life.events.get(state, Counter()).items():
            labels: Labels = (
                ("name", fold.name(name)), ("hostname", fold.worker(worker)), ("queue_name", queue)
            )  # fmt: skip
            if state == "failed":
                labels = (*labels[:2], ("exception", exception), labels[2])
            samples[labels] += n
            kind = ("type", f"task-{state}")
            flower[(("task", fold.name(name)), kind, ("worker", fold.worker(worker)))] += n
        out.family(f"celery_task_{state}", "counter", HELP[state], samples)
    out.family("flower_events_total", "counter", "Number of events", flower)
    runtime: dict[Labels, _Runs] = defaultdict(_Runs)
    flower_runtime: dict[Labels, _Runs] = defaultdict(_Runs)
    for (name, worker, queue), runs in life.runs.items():
        by_task: Labels = (
            ("hostname", fold.worker(worker)), ("name", fold.name(name)), ("queue_name", queue)
        )  # fmt: skip
        by_worker: Labels = (("task", fold.name(name)), ("worker", fold.worker(worker)))
        for target, labels in ((runtime, by_task), (flower_runtime, by_worker)):
            into = target[labels]
            into.count, into.ms = into.count + runs.count, into.ms + runs.ms
            into.waits, into.wait_ms = into.waits + runs.waits, into.wait_ms + runs.wait_ms
            into.prefetched += runs.prefetched
            into.le.update(runs.le)
    out.histogram(
        "celery_task_runtime",
        "Histogram of task runtime measurements.",
        {k: _buckets(r) for k, r in runtime.items()},
    )
    out.histogram(
        "flower_task_runtime_seconds",
        "Task runtime",
        {k: _buckets(r) for k, r in flower_runtime.items()},
    )
    waits = {k: r.wait_ms / 1000 / r.waits for k, r in flower_runtime.items() if r.waits}
    out.family("flower_task_prefetch_time_seconds", "gauge", PREFETCH_HELP, waits)
    prefetched = {k: float(r.prefetched) for k, r in flower_runtime.items()}
    out.family("flower_worker_prefetched_tasks", "gauge", PREFETCHED_HELP, prefetched)


def _workers(
    out: Exposition, workers: Iterable[Mapping[str, Any]], fold: Folding, now: datetime
) -> None:
    up: Counter[Labels] = Counter()
    active: Counter[Labels] = Counter()
    for doc in workers:
        host = fold.worker(str(doc.get("hostname") or doc.get("_id") or ""))
        online = is_online(dict(doc), now)
        reported = doc.get("active")
        running = reported if online and isinstance(reported, int) else 0
        up[(("hostname", host),)] = max(up[(("hostname", host),)], int(online))
        active[(("hostname", host),)] += running
    out.family(
        "celery_worker_up", "gauge", "Indicates if a worker has recently sent a heartbeat.", up
    )
    out.family("celery_worker_tasks_active", "gauge", WORKER_ACTIVE_HELP, active)
    as_worker: dict[Labels, float] = {(("worker", k[0][1]),): v for k, v in up.items()}
    out.family("flower_worker_online", "gauge", "Worker online status", as_worker)
    executing: dict[Labels, float] = {(("worker", k[0][1]),): v for k, v in active.items()}
    out.family(
        "flower_worker_number_of_currently_executing_tasks", "gauge", EXECUTING_HELP, executing
    )


def _queues(out: Exposition, queues: Iterable[Mapping[str, Any]]) -> None:
    depth: Counter[Labels] = Counter()
    for doc in queues:
        depth[(("queue_name", str(doc.get("queue"))),)] += int(doc.get("depth") or 0)
    out.family("celery_queue_length", "gauge", "The number of message in broker queue.", depth)


def _own(out: Exposition, totals: Iterable[Mapping[str, Any]]) -> None:
    live: Counter[Labels] = Counter()
    for doc in totals:
        tally = counts.from_rows(doc.get(counts.STATE_ROWS) or [])
        for (d, _, state), cell in tally.items():
            if d == counts.ALL:
                live[(("app", str(doc.get("app"))), ("state", state))] += cell.n
    out.family("tasktrail_tasks", "gauge", "Tasks tasktrail holds, per cluster and state.", live)


def exposition(
    totals: Sequence[Mapping[str, Any]],
    workers: Sequence[Mapping[str, Any]],
    queues: Sequence[Mapping[str, Any]],
    now: datetime,
    limit: int,
) -> str:
    """The whole ``/metrics`` body for the clusters whose documents are given."""
    life = Lifecycle.of(totals)
    ranked_workers = life.busiest(1)
    for doc in workers:
        ranked_workers.setdefault(str(doc.get("hostname") or doc.get("_id") or ""), 0)
    fold = Folding(keep(life.busiest(0), limit), keep(ranked_workers, limit))
    out = Exposition()
    _tasks(out, life, fold)
    _workers(out, workers, fold, now)
    _queues(out, queues)
    _own(out, totals)
    return out.text()
