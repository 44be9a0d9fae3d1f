"""The events control writes about workers and tasks, as stream messages (pure).

Ids derive from the command id, so a command executed twice (a replica taking over an
abandoned one) publishes the same ids and JetStream's duplicate window drops the repeats.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tasktrail_shared.own_events import (
    TASK_RECONCILED,
    WORKER_INSPECTED,
    TaskReconciled,
    WorkerInspected,
)
from tasktrail_shared.stream_message import StreamMessage, own_event

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
