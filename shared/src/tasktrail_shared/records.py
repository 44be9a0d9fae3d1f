"""Events tasktrail itself writes about tasks and workers (the API's writes, reconciliation).

The API never writes read models: ``POST``/``PATCH``/``DELETE`` publish one of these events
to the log and wait for the projector to apply it. Control publishes reconciliation and
inspection events. Every payload carries ``at`` (epoch seconds when it was decided), which
orders events of the same kind so that projection stays a pure function of the set.

Subjects follow the envelope rule: ``tasktrail.events.<app>.<type>``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TASK_RECORDED = "tasktrail.task.recorded"
"""A task created by hand (``POST /monitor/tasks``): fields as given."""
TASK_AMENDED = "tasktrail.task.amended"
"""``PATCH``: the given fields override what the Celery events say, latest amendment wins."""
TASK_DELETED = "tasktrail.task.deleted"
"""``DELETE``: hidden from queries unless a later ``recorded`` restores it; history stays."""
TASK_RECONCILED = "tasktrail.task.reconciled"
"""Control found the task in the result backend (``sync``): fills a final state the events
missed, never overrides a state the worker reported."""
WORKER_RECORDED = "tasktrail.worker.recorded"
WORKER_AMENDED = "tasktrail.worker.amended"
WORKER_DELETED = "tasktrail.worker.deleted"
WORKER_INSPECTED = "tasktrail.worker.inspected"
"""Control's ``refresh``: what a worker answered to inspect, or that it did not answer."""
TOKEN_CREATED = "tasktrail.token.created"
"""An API token was created (API or CLI), for the audit trail; the secret never travels."""
TOKEN_REVOKED = "tasktrail.token.revoked"

RECORD_TYPES = frozenset(
    {
        TASK_RECORDED,
        TASK_AMENDED,
        TASK_DELETED,
        TASK_RECONCILED,
        WORKER_RECORDED,
        WORKER_AMENDED,
        WORKER_DELETED,
        WORKER_INSPECTED,
        TOKEN_CREATED,
        TOKEN_REVOKED,
    }
)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: float = Field(description="epoch seconds when this was decided")
    actor: str


class TaskRecorded(_Record):
    uuid: str
    fields: dict[str, Any] = Field(
        description="read-model field names (name, args, kwargs, state, result, received, "
        "started, succeeded, retries, runtime, exception, traceback, worker, root_id, "
        "parent_id, queue, ...); datetimes as ISO 8601 strings"
    )


class TaskAmended(_Record):
    uuid: str
    fields: dict[str, Any]


class TaskDeleted(_Record):
    uuid: str


class TaskReconciled(_Record):
    uuid: str
    state: str
    result: Any = None
    exception: str | None = Field(default=None, description="repr of the exception (FAILURE)")
    traceback: str | None = None
    date_done: str | None = Field(default=None, description="ISO 8601, from the backend")
    name: str | None = None
    args: Any = None
    kwargs: Any = None
    worker: str | None = None
    retries: int | None = None
    queue: str | None = None


class WorkerRecorded(_Record):
    hostname: str
    fields: dict[str, Any] = Field(default_factory=dict)


class WorkerAmended(_Record):
    hostname: str
    fields: dict[str, Any]


class WorkerDeleted(_Record):
    hostname: str


class WorkerInspected(_Record):
    hostname: str
    reachable: bool
    stats: dict[str, Any] | None = None
    active: list[Any] | None = None
    reserved: list[Any] | None = None
    registered: list[str] | None = None
    active_queues: list[Any] | None = None


class TokenCreated(_Record):
    name: str
    role: str


class TokenRevoked(_Record):
    name: str


PAYLOADS: dict[str, type[_Record]] = {
    TASK_RECORDED: TaskRecorded,
    TASK_AMENDED: TaskAmended,
    TASK_DELETED: TaskDeleted,
    TASK_RECONCILED: TaskReconciled,
    WORKER_RECORDED: WorkerRecorded,
    WORKER_AMENDED: WorkerAmended,
    WORKER_DELETED: WorkerDeleted,
    WORKER_INSPECTED: WorkerInspected,
    TOKEN_CREATED: TokenCreated,
    TOKEN_REVOKED: TokenRevoked,
}
