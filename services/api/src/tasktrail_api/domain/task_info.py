"""A task as seed 003 shows it (``TaskInfo``, ``AppTasks``): its status in the seed's five
words, Stalled included, its start in the seed's date format, its configuration and its
place in a Celery canvas. Pure: it formats a task as ``serializers.task`` shows it, with
whether its worker is alive, which the caller read at the same time.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from tasktrail_shared import states
from tasktrail_shared.times import as_utc

SCHEDULED, STARTED, STOPPED, STALLED, REJECTED = (
    "Scheduled",
    "Started",
    "Stopped",
    "Stalled",
    "Rejected",
)
SEED_STATUS = {
    states.PENDING: SCHEDULED,
    states.RETRY: SCHEDULED,
    states.RECEIVED: STARTED,
    states.STARTED: STARTED,
    states.SUCCESS: STOPPED,
    states.FAILURE: STOPPED,
    states.REVOKED: STOPPED,
    states.REJECTED: REJECTED,
}
"""Celery's state -> the seed's status, before Stalled: sent and not yet received (a retry
is sent again) is Scheduled, on a worker is Started, finished in any way is Stopped."""
SEED_TIME = "%Y-%m-%d %H:%M:%S %z"
"""``2020-02-07 18:07:24 +0000``: the seed's ``start``, here always in UTC."""
START_FIELDS = ("sent", "received", "started", "timestamp")
"""Where a task's start (the seed's "created") is read from, first known wins."""
CONFIG_FIELDS = ("args", "kwargs", "eta", "expires", "retries", "queue")
NO_LIMITS = {"soft": None, "hard": None}
"""Celery's events do not carry a task's time limits."""


def seed_status(state: str | None, *, lost: bool, worker_alive: bool | None) -> str:
    """The seed's status. A task on a worker (RECEIVED or STARTED) is Stalled once that
    worker's heartbeat has lapsed (``worker_alive`` False: Celery's rule, two heartbeat
    periods of silence, judged when read) or the projector found it lost (its worker was
    restarted under it); a worker never heard of (``None``) leaves it Started."""
    status = SEED_STATUS.get(state or states.PENDING, SCHEDULED)
    if status == STARTED and (lost or worker_alive is False):
        return STALLED
    return status


def seed_time(value: datetime) -> str:
    return as_utc(value).strftime(SEED_TIME)


def start_of(task: Mapping[str, Any]) -> datetime | None:
    """When the task was created, as far as tasktrail knows: sent, else received..."""
    for field in START_FIELDS:
        value = task.get(field)
        if isinstance(value, str):
            return datetime.fromisoformat(value)
    return None


def _tag(name: str, value: Any) -> str:
    return f"{name}={value if isinstance(value, str) else json.dumps(value)}"


def tags(labels: Mapping[str, Any]) -> str:
    """Labels as the seed's comma-separated tags, ``name=value``, by name."""
    return ",".join(_tag(name, labels[name]) for name in sorted(labels))


def description(task: Mapping[str, Any]) -> dict[str, Any]:
    """The task's place in a canvas: its parent, and its children (``group.children``)."""
    children = list(task.get("children") or [])
    out: dict[str, Any] = {"hasChildTasks": bool(children)}
    if task.get("parent_id"):
        out["parentTaskId"] = task["parent_id"]
    if children:
        out["group"] = {"children": children}
    return out


def item(
    task: Mapping[str, Any],
    worker_alive: bool | None,
    profiles: Mapping[tuple[str, str], dict[str, list[Any]]] | None = None,
) -> dict[str, Any]:
    """One task in the seed's keys (``app_id`` is the worker); ``profiles``: the alert
    profiles of its catalog entry, by ``(cluster, task name)``."""
    start = start_of(task)
    labels = task.get("labels") or {}
    service = labels.get("service")
    return {
        "task_id": task["id"],
        "app_id": task.get("worker"),
        "uri": f"/monitor/tasks/{quote(str(task['id']), safe='')}",
        "name": task.get("name"),
        "status": seed_status(
            task.get("status"), lost=task.get("lost") is True, worker_alive=worker_alive
        ),
        "start": None if start is None else seed_time(start),
        "start_f": None if start is None else start.timestamp(),
        "service": service if isinstance(service, str) else task.get("queue"),
        "tags": tags(labels),
        "profiles": dict((profiles or {}).get((str(task.get("app")), str(task.get("name"))), {})),
        "task_config": {**{f: task.get(f) for f in CONFIG_FIELDS}, "limits": dict(NO_LIMITS)},
        "description": description(task),
    }


def worker_tasks(name: str, online: bool, items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """``AppTasks``' entry of one worker: the tasks on it without a parent (``tasks``), and
    the others under their parent's id (``children``, whether or not the parent is on the
    worker too), each task once, in the order given."""
    top: list[dict[str, Any]] = []
    children: dict[str, list[dict[str, Any]]] = {}
    for entry in items:
        parent = entry["description"].get("parentTaskId")
        if parent is None:
            top.append(entry)
        else:
            children.setdefault(str(parent), []).append(entry)
    return {"app_id": name, "online": online, "tasks": top, "children": children}
