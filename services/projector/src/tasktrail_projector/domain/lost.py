"""Which unfinished tasks are lost: their worker process is gone and cannot finish them.

"Gone" depends on the clock (a worker is offline once ``now`` passes ``alive_until``), so
this is not part of the fold; the liveness sweep evaluates it for the tasks that may have
changed and stores the answer in the task's ``lost`` field, leaving ``state`` at the last
state a worker reported. A task is lost when it is RECEIVED or STARTED on a worker that is
offline, or on a worker that has since been heard of under another pid (restarted faster
than its heartbeat expiry); not when the worker rejected it after it got it (Celery's
precedence shows such a task as RECEIVED, but the worker has let go of it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tasktrail_shared.states import ON_WORKER

JUDGED_FIELDS = ("state", "worker", "worker_pid", "timestamp", "rejected", "lost")
"""What the decision needs from each task document (and what a flip is conditional on)."""
LIVENESS_FIELDS = ("pid", "alive_until", "event_time")
"""What the decision needs from each worker document."""


@dataclass(frozen=True, slots=True)
class Liveness:
    alive: bool
    pid: int | None
    event_time: datetime | None
    """The worker-clock time of its newest event (tasks' times use the same clock)."""


@dataclass(frozen=True, slots=True)
class Flip:
    """Set ``lost`` on one task, provided the fields the decision rested on still hold."""

    task_id: str
    lost: bool
    expect: dict[str, Any]


def liveness(workers: Iterable[Mapping[str, Any]], now: datetime) -> dict[str, Liveness]:
    found = {}
    for doc in workers:
        until, pid, seen = doc.get("alive_until"), doc.get("pid"), doc.get("event_time")
        found[str(doc["_id"])] = Liveness(
            alive=isinstance(until, datetime) and now < until,
            pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
            event_time=seen if isinstance(seen, datetime) else None,
        )
    return found


def is_lost(task: Mapping[str, Any], workers: Mapping[str, Liveness]) -> bool:
    worker = workers.get(task.get("worker") or "")
    if task.get("state") not in ON_WORKER or worker is None:
        return False
    pid, at, rejected = task.get("worker_pid"), task.get("timestamp"), task.get("rejected")
    if isinstance(rejected, datetime) and isinstance(at, datetime) and rejected >= at:
        return False
    if not worker.alive:
        return True
    return (
        pid is not None
        and worker.pid is not None
        and pid != worker.pid
        and isinstance(at, datetime)
        and worker.event_time is not None
        and worker.event_time > at
    )


def flips(tasks: Iterable[Mapping[str, Any]], workers: Mapping[str, Liveness]) -> list[Flip]:
    """The ``lost`` changes these tasks need; each is conditional on what it was decided from."""
    out = []
    for task in tasks:
        wanted = is_lost(task, workers)
        if wanted != bool(task.get("lost")):
            expect = {name: task.get(name) for name in JUDGED_FIELDS}
            out.append(Flip(str(task["_id"]), wanted, expect))
    return sorted(out, key=lambda f: f.task_id)
