"""What the notifier knows of each cluster, folded from Celery events as the log delivers them.

Every time here is the collector's receive time of the stream message (``ce-received``),
never the notifier's clock: every replica, and a restarted one replaying the log, folds the
same events into the same observations, so the incidents it derives get the same ids.

Celery's ``task-failed`` and ``task-succeeded`` do not carry the task's name; it comes from
``task-received`` (or ``task-sent``), remembered per uuid for a bounded number of tasks.
Pure: no I/O.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

MAX_TASKS = 100_000
"""Tasks whose name, queue and worker are remembered (oldest forgotten first)."""
MAX_OUTCOMES = 10_000
"""Outcomes kept per task name for failure rates (oldest dropped first)."""
OUTCOME_HORIZON = 24 * 3600.0
"""Seconds of outcomes kept for failure rates (the longest window a rule may use)."""
MAX_DEPTHS = 10_000
"""Measurements kept per queue (oldest dropped first; at one every 10 s, about a day)."""


@dataclass(slots=True)
class TaskSeen:
    name: str | None = None
    queue: str | None = None
    worker: str | None = None


@dataclass(slots=True)
class NameStatus:
    """The outcomes of the tasks of one name in one cluster."""

    queue: str | None = None
    worker: str | None = None
    failing_since: float | None = None
    """Receive time of the first failure since the last success (None: not failing)."""
    last_exception: str | None = None
    outcomes: deque[tuple[float, bool]] = field(default_factory=deque)
    """(receive time, failed) of recent outcomes, oldest first."""
    runtimes: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=1))
    """(receive time, run time) of the latest success."""


@dataclass(slots=True)
class WorkerSeen:
    last_heartbeat: float
    freq: float
    offline_at: float | None = None

    def offline_since(self) -> float:
        """When it went offline: its worker-offline, else 2 x freq after its last heartbeat
        (Celery's expiry, so a SIGKILLed worker goes offline too)."""
        if self.offline_at is not None:
            return self.offline_at
        return self.last_heartbeat + 2 * self.freq


@dataclass(slots=True)
class JobSeen:
    """A scheduled job's health as the projector's sweep last judged it
    (``tasktrail.schedule.job_health``), and since when it has been overdue."""

    task: str | None = None
    """Its task name, from the scheduler's reports (``None`` until one names it)."""
    health: str = "ok"
    at: float = 0.0
    """When its current health became true (the sweep's ``at``)."""
    late_since: float | None = None
    """Start of the current run of ``late`` or ``missed`` judgements."""
    missed_since: float | None = None
    """When it became ``missed`` (it stays so until another health replaces it)."""


JobKey = tuple[str, str, str]
"""(organisation, scheduler alias, job id)."""
OVERDUE = ("late", "missed")


@dataclass(slots=True)
class QueueSeen:
    """A queue's measured depths, oldest first: ``(measured at, depth)``."""

    depths: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=MAX_DEPTHS))

    def add(self, at: float, depth: int) -> None:
        """In time order; a late measurement (an older one read after a newer) is dropped."""
        if not self.depths or at > self.depths[-1][0]:
            self.depths.append((at, depth))

    def above_since(self, threshold: int) -> float | None:
        """When the depth last rose above ``threshold`` and stayed there (``None``: it is not
        above now): the first of the latest run of measurements above it."""
        since = None
        for at, depth in reversed(self.depths):
            if depth <= threshold:
                break
            since = at
        return since


@dataclass(slots=True)
class Cluster:
    last_event: float = 0.0
    tasks: OrderedDict[str, TaskSeen] = field(default_factory=OrderedDict)
    names: dict[str, NameStatus] = field(default_factory=dict)
    workers: dict[str, WorkerSeen] = field(default_factory=dict)
    started: dict[str, float] = field(default_factory=dict)
    """Tasks started and not finished: uuid -> receive time of task-started."""
    jobs: dict[JobKey, JobSeen] = field(default_factory=dict)
    """Scheduled jobs whose health or task the log told, by organisation, alias, job id."""
    queues: dict[str, QueueSeen] = field(default_factory=dict)
    """Broker queues by name, from ``tasktrail.queue.measured`` (not Celery events: they do
    not count as a sign of life for ``cluster_silent``)."""


class Observations:
    """Per cluster (``app``): tasks by uuid, outcomes by task name, workers, last event."""

    def __init__(self) -> None:
        self.clusters: dict[str, Cluster] = {}

    def cluster(self, app: str) -> Cluster:
        return self.clusters.setdefault(app, Cluster())

    def fold(self, app: str, received: float, event: dict[str, Any]) -> None:
        """One Celery event of cluster ``app``, received by the collector at ``received``."""
        cluster = self.cluster(app)
        cluster.last_event = max(cluster.last_event, received)
        kind = str(event.get("type", ""))
        if kind.startswith("worker-"):
            self._worker(cluster, kind, received, event)
        elif kind.startswith("task-") and isinstance(event.get("uuid"), str):
            self._task(cluster, kind, received, event)

    def fold_schedule(self, app: str, health: bool, payload: dict[str, Any]) -> None:
        """One schedule event written into cluster ``app``'s log: a job's health (``health``)
        or a scheduler's report, of which only the task name of a job matters here."""
        org, alias, job_id = payload.get("org"), payload.get("alias"), payload.get("job_id")
        if not (isinstance(org, str) and isinstance(alias, str) and isinstance(job_id, str)):
            return
        jobs = self.cluster(app).jobs
        seen = jobs.setdefault((org, alias, job_id), JobSeen())
        if not health:
            if isinstance(payload.get("task"), str):
                seen.task = payload["task"]
            return
        at = payload.get("at")
        if not isinstance(at, int | float) or at < seen.at:
            return  # older than the verdict it would replace
        seen.health, seen.at = str(payload.get("health")), float(at)
        if seen.health not in OVERDUE:
            seen.late_since = seen.missed_since = None
            return
        if seen.late_since is None:
            seen.late_since = seen.at
        if seen.health == "missed" and seen.missed_since is None:
            seen.missed_since = seen.at

    def measured(self, app: str, at: float, depths: dict[str, int]) -> None:
        """One measuring round of cluster ``app``'s queues, taken at ``at``."""
        queues = self.cluster(app).queues
        for queue, depth in depths.items():
            queues.setdefault(queue, QueueSeen()).add(at, depth)

    def _worker(self, cluster: Cluster, kind: str, received: float, event: dict[str, Any]) -> None:
        hostname = str(event.get("hostname"))
        freq = event.get("freq")
        seen = cluster.workers.get(hostname)
        if kind == "worker-offline":
            if seen is not None:
                seen.offline_at = received
            return
        interval = float(freq) if isinstance(freq, int | float) and freq > 0 else 2.0
        if seen is None or received >= seen.last_heartbeat:
            cluster.workers[hostname] = WorkerSeen(received, interval)

    def _task(self, cluster: Cluster, kind: str, received: float, event: dict[str, Any]) -> None:
        uuid = str(event["uuid"])
        seen = cluster.tasks.get(uuid)
        if seen is None:
            seen = cluster.tasks[uuid] = TaskSeen()
            while len(cluster.tasks) > MAX_TASKS:
                cluster.tasks.popitem(last=False)
        if isinstance(event.get("name"), str):
            seen.name = event["name"]
        if isinstance(event.get("queue"), str):
            seen.queue = event["queue"]
        if kind in ("task-received", "task-started"):
            seen.worker = str(event.get("hostname"))
        if kind == "task-started":
            cluster.started[uuid] = received
        elif kind in ("task-succeeded", "task-failed"):
            cluster.started.pop(uuid, None)
            self._outcome(cluster, seen, kind == "task-failed", received, event)
        elif kind in ("task-revoked", "task-rejected"):
            cluster.started.pop(uuid, None)

    def _outcome(
        self, cluster: Cluster, seen: TaskSeen, failed: bool, at: float, event: dict[str, Any]
    ) -> None:
        if seen.name is None:
            return  # its name was never seen (before the replay's start): nothing to match
        status = cluster.names.setdefault(seen.name, NameStatus())
        status.queue, status.worker = seen.queue, seen.worker
        if failed:
            status.last_exception = str(event.get("exception", ""))
            if status.failing_since is None:
                status.failing_since = at
        else:
            status.failing_since = None
            runtime = event.get("runtime")
            if isinstance(runtime, int | float):
                status.runtimes.append((at, float(runtime)))
        status.outcomes.append((at, failed))
        while status.outcomes and (
            len(status.outcomes) > MAX_OUTCOMES or status.outcomes[0][0] < at - OUTCOME_HORIZON
        ):
            status.outcomes.popleft()
