"""The events control writes about workers and tasks, as stream messages (pure).

Ids derive from the command id, so a command executed twice (a replica taking over an
abandoned one) publishes the same ids and JetStream's duplicate window drops the repeats.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tasktrail_shared.commands import RunArgs
from tasktrail_shared.own_events import (
    TASK_RECONCILED,
    TASK_RECORDED,
    WORKER_INSPECTED,
    TaskReconciled,
    TaskRecorded,
    WorkerInspected,
)
from tasktrail_shared.states import PENDING
from tasktrail_shared.stream_message import StreamMessage, own_event, rfc3339

INSPECTIONS = ("stats", "active", "reserved", "registered", "active_queues")
"""Celery inspect commands whose answers make up a ``tasktrail.worker.inspected`` event."""

UNKNOWN_STATE = "PENDING"
"""What a result backend says about a task id it has never seen."""


def inspected(
    *,
    app: str,
    source: str,
    command_id: str,
    actor: str,
    at: float,
    hostname: str,
    answers: Mapping[str, Any] | None,
) -> StreamMessage:
    """``answers`` maps each of :data:`INSPECTIONS` to the worker's answer; ``None``: no answer."""
    data = answers or {}
    payload = WorkerInspected(
        at=at,
        actor=actor,
        hostname=hostname,
        reachable=answers is not None,
        **{name: data.get(name) for name in INSPECTIONS},
    )
    return own_event(
        app=app,
        type=WORKER_INSPECTED,
        payload=payload.model_dump(),
        source=source,
        id=f"{command_id}:{hostname}",
        subject=hostname,
    )


def reconciled(
    *, app: str, source: str, command_id: str, actor: str, at: float, meta: Mapping[str, Any]
) -> StreamMessage | None:
    """One task as the result backend knows it, or ``None`` if the backend does not."""
    state = meta.get("state")
    if not state or state == UNKNOWN_STATE:
        return None
    payload = TaskReconciled(
        at=at,
        actor=actor,
        uuid=meta["id"],
        state=state,
        exception=meta.get("result") if state == "FAILURE" else None,
        queue=meta.get("queue"),
        **{
            key: meta.get(key)
            for key in (
                "result",
                "traceback",
                "date_done",
                "name",
                "args",
                "kwargs",
                "worker",
                "retries",
            )
        },
    )
    return own_event(
        app=app,
        type=TASK_RECONCILED,
        payload=payload.model_dump(),
        source=source,
        id=f"{command_id}:{meta['id']}",
        subject=meta["id"],
    )


def labelled(
    *, app: str, source: str, command_id: str, actor: str, at: float, task_id: str, args: RunArgs
) -> StreamMessage:
    """The record of a task ``run`` just sent with ``labels``: its name, queue, labels and
    the time it was sent, as PENDING until its own events say more."""
    fields: dict[str, Any] = {"name": args.name, "state": PENDING, "sent": rfc3339(at)}
    if args.queue is not None:
        fields["queue"] = args.queue
    payload = TaskRecorded(
        at=at, actor=actor, uuid=task_id, fields={**fields, **(args.labels or {})}
    )
    return own_event(
        app=app,
        type=TASK_RECORDED,
        payload=payload.model_dump(),
        source=source,
        id=f"{command_id}:{task_id}",
        subject=task_id,
    )
