"""The events control writes about workers and tasks, as stream messages (pure).

Ids derive from the command id, so a command executed twice (a replica taking over an
abandoned one) publishes the same ids and JetStream's duplicate window drops the repeats.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Origin:
    """Where control's events come from: one command (its id and actor), at one time."""

    app: str
    source: str
    command_id: str
    actor: str
    at: float

    def event(self, event_type: str, payload: dict[str, Any], about: str) -> StreamMessage:
        """An event about ``about`` (a hostname or task id), with an id that the same
        command always gives it."""
        return own_event(
            app=self.app,
            type=event_type,
            payload=payload,
            source=self.source,
            id=f"{self.command_id}:{about}",
            subject=about,
        )


def inspected(origin: Origin, hostname: str, answers: Mapping[str, Any] | None) -> StreamMessage:
    """``answers`` maps each of :data:`INSPECTIONS` to the worker's answer; ``None``: no answer."""
    data = answers or {}
    payload = WorkerInspected(
        at=origin.at,
        actor=origin.actor,
        hostname=hostname,
        reachable=answers is not None,
        **{name: data.get(name) for name in INSPECTIONS},
    )
    return origin.event(WORKER_INSPECTED, payload.model_dump(), hostname)


RECONCILED_FIELDS = (
    "result", "traceback", "date_done", "name", "args", "kwargs", "worker", "retries",
)  # fmt: skip
"""What a result backend's record gives a reconciled task as it is."""


def reconciled(origin: Origin, meta: Mapping[str, Any]) -> StreamMessage | None:
    """One task as the result backend knows it, or ``None`` if the backend does not."""
    state = meta.get("state")
    if not state or state == UNKNOWN_STATE:
        return None
    payload = TaskReconciled(
        at=origin.at,
        actor=origin.actor,
        uuid=meta["id"],
        state=state,
        exception=meta.get("result") if state == "FAILURE" else None,
        queue=meta.get("queue"),
        **{key: meta.get(key) for key in RECONCILED_FIELDS},
    )
    return origin.event(TASK_RECONCILED, payload.model_dump(), meta["id"])


def labelled(origin: Origin, task_id: str, args: RunArgs) -> StreamMessage:
    """The record of a task ``run`` just sent with ``labels``: its name, queue, labels and
    the time it was sent, as PENDING until its own events say more."""
    fields: dict[str, Any] = {"name": args.name, "state": PENDING, "sent": rfc3339(origin.at)}
    if args.queue is not None:
        fields["queue"] = args.queue
    payload = TaskRecorded(
        at=origin.at, actor=origin.actor, uuid=task_id, fields={**fields, **(args.labels or {})}
    )
    return origin.event(TASK_RECORDED, payload.model_dump(), task_id)
