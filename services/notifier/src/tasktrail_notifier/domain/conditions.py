"""Whether each rule's condition holds, per group key, and since when.

A condition answers ``{key: since}`` for the keys it holds for in one cluster: ``since`` is
the moment, taken from the events (receive times) and the rule's parameters, when it began
to hold; an incident opens once it has held for the rule's ``for``. Keys: the task name for
task rules, the worker's hostname for ``worker_offline``, ``<alias>/<job_id>`` for
``schedule_missed``, the queue for ``queue_length``, the cluster for ``cluster_silent``.
Pure: ``now`` is given.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable

from tasktrail_notifier.domain.observations import Cluster
from tasktrail_notifier.domain.rules import Rule

Holding = dict[str, float]
"""Group key -> since (epoch seconds)."""


def task_failed(rule: Rule, cluster: Cluster, app: str, now: float) -> Holding:
    """Holds for a task name from its first failure until a run of it succeeds."""
    pattern = rule.params.get("exception")
    held: Holding = {}
    for name, status in cluster.names.items():
        if status.failing_since is None:
            continue
        if not rule.filter.admits_task(name, status.queue, status.worker):
            continue
        if pattern and not fnmatch.fnmatchcase(status.last_exception or "", pattern):
            continue
        held[name] = status.failing_since
    return held


def failure_rate(rule: Rule, cluster: Cluster, app: str, now: float) -> Holding:
    """Holds while, over the last ``window`` seconds, at least ``min_count`` runs ended and
    more than ``percent`` of them failed; since the latest outcome that tipped it."""
    window, percent = float(rule.params["window"]), float(rule.params["percent"])
    min_count = int(rule.params["min_count"])
    held: Holding = {}
    for name, status in cluster.names.items():
        if not rule.filter.admits_task(name, status.queue, status.worker):
            continue
        recent = [(at, failed) for at, failed in status.outcomes if at > now - window]
        failures = sum(1 for _, failed in recent if failed)
        if len(recent) >= min_count and failures * 100 > percent * len(recent):
            held[name] = recent[-1][0]
    return held


def runtime(rule: Rule, cluster: Cluster, app: str, now: float) -> Holding:
    """Holds while the latest successful run of a task name took longer than ``seconds``."""
    limit = float(rule.params["seconds"])
    held: Holding = {}
    for name, status in cluster.names.items():
        if not status.runtimes or not rule.filter.admits_task(name, status.queue, status.worker):
            continue
        at, took = status.runtimes[-1]
        if took > limit:
            held[name] = at
    return held


def stalled(rule: Rule, cluster: Cluster, app: str, now: float) -> Holding:
    """Holds for a task name while one of its tasks has been started and not finished for
    more than ``seconds``; since the oldest such start plus ``seconds``."""
    limit = float(rule.params["seconds"])
    held: Holding = {}
    for uuid, started in cluster.started.items():
        seen = cluster.tasks.get(uuid)
        name = seen.name if seen is not None else None
        if name is None or started + limit > now:
            continue
        if not rule.filter.admits_task(
            name, seen.queue if seen else None, seen.worker if seen else None
        ):
            continue
        held[name] = min(held.get(name, started + limit), started + limit)
    return held


def worker_offline(rule: Rule, cluster: Cluster, app: str, now: float) -> Holding:
    """Holds for a worker offline for more than ``seconds``: since it went offline."""
    grace = float(rule.params["seconds"])
    held: Holding = {}
    for hostname, seen in cluster.workers.items():
        since = seen.offline_since()
        if since + grace <= now and rule.filter.admits_worker(hostname):
            held[hostname] = since
    return held


def schedule_missed(rule: Rule, cluster: Cluster, app: str, now: float) -> Holding:
    """Holds for a scheduled job of the rule's organisation while the sweep judges it
    ``missed`` (with ``late``: also ``late``), keyed ``<alias>/<job_id>``; since the verdict
    that started it."""
    scheduler, job = rule.params.get("scheduler"), rule.params.get("job")
    held: Holding = {}
    for (org, alias, job_id), seen in cluster.jobs.items():
        since = seen.late_since if rule.params.get("late") else seen.missed_since
        if org != rule.org or since is None:
            continue
        if scheduler and not fnmatch.fnmatchcase(alias, scheduler):
            continue
        if job and not fnmatch.fnmatchcase(job_id, job):
            continue
        if rule.filter.admits_task(seen.task or job_id, None, None):
            held[f"{alias}/{job_id}"] = since
    return held


def queue_length(rule: Rule, cluster: Cluster, app: str, now: float) -> Holding:
    """Holds for a queue whose measured depth is above ``threshold``: since the first of the
    latest measurements above it (a queue matches ``filter.queue``)."""
    threshold = int(rule.params["threshold"])
    held: Holding = {}
    for queue, seen in cluster.queues.items():
        if rule.filter.queue is not None and not fnmatch.fnmatchcase(queue, rule.filter.queue):
            continue
        since = seen.above_since(threshold)
        if since is not None and since <= now:
            held[queue] = since
    return held


def cluster_silent(rule: Rule, cluster: Cluster, app: str, now: float) -> Holding:
    """Holds when no Celery event came from the cluster for ``seconds``."""
    since = cluster.last_event + float(rule.params["seconds"])
    return {app: since} if cluster.last_event and since <= now else {}


CONDITIONS: dict[str, Callable[[Rule, Cluster, str, float], Holding]] = {
    "task_failed": task_failed,
    "failure_rate": failure_rate,
    "runtime": runtime,
    "stalled": stalled,
    "worker_offline": worker_offline,
    "schedule_missed": schedule_missed,
    "queue_length": queue_length,
    "cluster_silent": cluster_silent,
}


def holding(rule: Rule, cluster: Cluster, app: str, now: float) -> Holding:
    return CONDITIONS[rule.kind](rule, cluster, app, now)
