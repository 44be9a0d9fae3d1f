"""The command contract between the API and the control service (NATS request/reply).

The API sends a :class:`CommandRequest` to ``tasktrail.control.<app>``; one control replica
of the queue group executes it and replies with a :class:`CommandReply`. Control records the
command in the log twice, as ``tasktrail.command.requested`` and ``tasktrail.command.completed``
(payload: ``command_id``, ``command``, ``actor``, ``args``, and ``outcome`` once completed).

Each command's arguments are described by the model in :data:`ARGUMENTS`, which both sides
validate with, so a bad request is refused with the same message wherever it is caught.
``names`` (worker hostnames) is optional where present: ``None`` means every worker.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

CONTROL_QUEUE_GROUP = "tasktrail-control"
REQUESTED = "tasktrail.command.requested"
COMPLETED = "tasktrail.command.completed"

CommandName = Literal[
    "revoke",
    "revoke_by_stamped_headers",
    "shutdown",
    "ping",
    "refresh",
    "sync",
    "pool_grow",
    "pool_shrink",
    "autoscale",
    "rate_limit",
    "time_limit",
    "add_consumer",
    "cancel_consumer",
    "purge",
    "run",
    "retry",
]

Ids = list[str]
Names = list[str]


def control_subject(app: str) -> str:
    return f"tasktrail.control.{app}"


class _Args(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RevokeArgs(_Args):
    ids: Ids = Field(min_length=1, max_length=10_000)
    terminate: bool = False
    signal: str | int | None = None


class RevokeByStampedHeadersArgs(_Args):
    headers: dict[str, str | list[str]] = Field(min_length=1)
    terminate: bool = False
    signal: str | int | None = None


class ShutdownArgs(_Args):
    names: Names = Field(min_length=1)


class PingArgs(_Args):
    names: Names | None = None


class RefreshArgs(_Args):
    """Ping and inspect; ``expected`` workers that do not answer are recorded unreachable."""

    names: Names | None = None
    expected: Names = Field(default_factory=list)


class SyncArgs(_Args):
    """Look the tasks up in the result backend; each one found becomes a reconciled event."""

    ids: Ids = Field(min_length=1, max_length=10_000)


class PoolArgs(_Args):
    n: int = Field(default=1, ge=1, le=1000)
    names: Names | None = None


class AutoscaleArgs(_Args):
    max: int = Field(ge=0, le=10_000)
    min: int = Field(ge=0, le=10_000)
    names: Names | None = None


class RateLimitArgs(_Args):
    task_name: str = Field(min_length=1)
    rate: str | int | None = Field(description="e.g. '10/m', '100/s', 0 or None to disable")
    names: Names | None = None


class TimeLimitArgs(_Args):
    task_name: str = Field(min_length=1)
    soft: float | None = Field(default=None, ge=0)
    hard: float | None = Field(default=None, ge=0)
    names: Names | None = None


class ConsumerArgs(_Args):
    queue: str = Field(min_length=1)
    exchange: str | None = None
    routing_key: str | None = None
    names: Names | None = None


class PurgeArgs(_Args):
    queue: str = Field(min_length=1)


class RunArgs(_Args):
    name: str = Field(min_length=1)
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(default_factory=dict)
    queue: str | None = None
    eta: str | None = Field(default=None, description="ISO 8601 datetime")
    countdown: float | None = Field(default=None, ge=0)


class RetryArgs(_Args):
    """Re-run a task with its original arguments, known only as Celery's repr strings."""

    id: str
    name: str
    args: str | None = Field(description="argsrepr as captured by task-sent/received")
    kwargs: str | None = None
    queue: str | None = None


ARGUMENTS: dict[str, type[BaseModel]] = {
    "revoke": RevokeArgs,
    "revoke_by_stamped_headers": RevokeByStampedHeadersArgs,
    "shutdown": ShutdownArgs,
    "ping": PingArgs,
    "refresh": RefreshArgs,
    "sync": SyncArgs,
    "pool_grow": PoolArgs,
    "pool_shrink": PoolArgs,
    "autoscale": AutoscaleArgs,
    "rate_limit": RateLimitArgs,
    "time_limit": TimeLimitArgs,
    "add_consumer": ConsumerArgs,
    "cancel_consumer": ConsumerArgs,
    "purge": PurgeArgs,
    "run": RunArgs,
    "retry": RetryArgs,
}


class CommandRequest(BaseModel):
    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    """Idempotency key: a request retried with the same id executes once."""
    command: CommandName
    args: dict[str, Any] = Field(default_factory=dict)
    actor: str = "anonymous"
    timeout: float = Field(default=2.0, gt=0, le=60)
    """How long control waits for worker replies."""


class WorkerOutcome(BaseModel):
    status: Literal["ok", "error"]
    detail: Any = None


class CommandReply(BaseModel):
    id: str
    command: CommandName
    ok: bool
    error: str | None = None
    workers: dict[str, WorkerOutcome] = Field(default_factory=dict)
    """Outcome per worker (revoke, shutdown, ping, refresh, pool, limits, consumers)."""
    result: Any = None
    """Command-specific result: ``run``/``retry`` -> new task id, ``purge`` -> messages
    removed, ``sync`` -> number of tasks reconciled."""
    duration_ms: float = 0.0
