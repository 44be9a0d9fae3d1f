"""The documented shapes of response data (names follow the original API).

Request bodies are in ``tasktrail_api.domain`` (``filters``, ``writes``, ``commands``,
``principals``), where the use cases can use them too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class CeleryTask(BaseModel):
    id: str
    name: str | None
    uuid: str
    status: str | None
    args: Any
    kwargs: Any
    cidr_id: Any
    cidr_ip_network: Any
    asn_id: Any
    asn_number: Any
    result: Any
    received: datetime | None
    started: datetime | None
    succeeded: datetime | None
    retries: Any
    runtime: float | None
    exception: Any
    traceback: Any
    worker: str | None
    root_id: str | None
    parent_id: str | None
    children: list[str]
    sent: datetime | None
    failed: datetime | None
    retried: datetime | None
    revoked: datetime | None
    rejected: datetime | None
    timestamp: datetime | None
    eta: Any
    expires: Any
    queue: str | None
    app: str | None
    labels: dict[str, Any]
    lost: bool


class CeleryWorker(BaseModel):
    id: str
    name: str
    status: bool
    app: str | None
    last_heartbeat: datetime | None
    pid: Any
    freq: Any
    active: Any
    processed: Any
    loadavg: Any
    sw_ident: Any
    sw_ver: Any
    sw_sys: Any


class TaskList(BaseModel):
    celery_tasks: list[CeleryTask]
    count: int = Field(description="Matching tasks; at least this many if not count_is_exact")
    count_is_exact: bool = Field(
        description="False when count is the bound (TASKTRAIL_API_COUNT_BOUND) of a list "
        "the counters cannot total"
    )
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page")


class TaskDetail(BaseModel):
    celerytask: CeleryTask


class WorkerList(BaseModel):
    celery_workers: list[CeleryWorker]
    count: int


class WorkerDetail(BaseModel):
    celeryworker: CeleryWorker


class Accepted(BaseModel):
    """A write the projector has not applied within the wait: it is in the log and will be."""

    event_id: str
    seq: int
    status: Literal["accepted"]


class WorkerCounts(BaseModel):
    worker_online: int
    worker_offline: int
    worker_task_active: int
    worker_task_processed: int


class TaskCounts(BaseModel):
    task_pending: int
    task_received: int
    task_started: int
    task_success: int
    task_failed: int
    task_revoked: int
    task_retried: int


class Dashboard(BaseModel):
    worker: WorkerCounts
    task: TaskCounts


class RevokeResult(BaseModel):
    list_revokes: dict[str, list[str]]
    """Per worker that acknowledged: the ids it revoked."""
    errors: dict[str, Any]
    """Per worker that failed: the detail control reported."""


class ShutdownResult(BaseModel):
    names: list[dict[str, str]]
    """``[{hostname: "shutdown", ...}]``: one object, as the original API returned it."""
    errors: dict[str, Any]


class WorkerOutcome(BaseModel):
    status: Literal["ok", "error"]
    detail: Any


class CommandResult(BaseModel):
    workers: dict[str, WorkerOutcome]
    result: Any


class RefreshResult(CommandResult):
    expected: list[str]
    """The workers the read model showed online, which control checks."""


class NewTask(BaseModel):
    task_id: str


class TaskEvent(BaseModel):
    id: str
    uuid: str | None
    type: str | None
    timestamp: datetime | None
    hostname: str | None
    app: str | None
    actor: str | None
    event: Any


class EventList(BaseModel):
    events: list[TaskEvent]
    count: int


class Token(BaseModel):
    name: str
    org: str | None
    """The token's organisation; ``null``: a root token."""
    role: str
    created: datetime | None
    created_by: str | None


class NewToken(BaseModel):
    token: Token
    secret: str
    """The token itself: shown once, stored only as a digest."""


class TokenList(BaseModel):
    tokens: list[Token]


class Org(BaseModel):
    slug: str
    name: str
    clusters: list[str]
    """The clusters it owns (of the default organisation: those known to the API)."""
    owns_unassigned: bool
    """True for the default organisation: it also owns every cluster given to no other."""
    created: datetime | None
    created_by: str | None


class OrgDetail(BaseModel):
    org: Org


class OrgList(BaseModel):
    orgs: list[Org]


class Health(BaseModel):
    status: str
    checks: dict[str, bool] = Field(default_factory=dict)


# --- seed 001: the task catalog (plain JSON, TheEye's names) -----------------------------------


class CatalogEntry(BaseModel):
    """A task of the catalog, as TheEye shows one."""

    id: str = Field(description="24 hexadecimal digits, derived from the cluster and the name")
    name: str
    type: Literal["celery"]
    customer_name: str
    app: str | None
    description: str | None
    tags: list[str]
    task_arguments: list[dict[str, Any]] | None = Field(
        description="Ordered; null: not described (a run passes the values as given)"
    )
    timeout: int | None = Field(description="Seconds; null: the default, 600")
    multitasking: bool
    acl: list[str]
    profiles: dict[str, list[int | str]] = Field(
        description="Alert profile ids by type (alarm, email, threshold, pagerduty, webhook,"
        " telegram, kpi)"
    )
    discovered_by: list[Literal["events", "registered"]]
    creation_date: datetime | None


class Job(BaseModel):
    """A run of a catalog task, as TheEye shows a job; ``id`` is the Celery task id."""

    id: str
    task_id: str | None
    name: str | None
    customer_name: str
    task_arguments_values: list[Any] | None
    lifecycle: Literal[
        "ready", "assigned", "started", "finished", "terminated", "canceled", "expired"
    ]
    state: Literal["in_progress", "success", "failure", "canceled", "timeout", "expired"]
    status: str = Field(description="The task's Celery state")
    user: str | None
    origin: Literal["token", "secret", "batch"] | None
    creation_date: datetime | None
    last_update: datetime | None
    worker: str | None
    result: Any
    exception: Any


class Credentials(BaseModel):
    id: str
    name: str | None
    secret: str = Field(description="The secret key: 64 hexadecimal characters")


class Recipe(BaseModel):
    task: dict[str, Any]


class DeletedCount(BaseModel):
    deletedCount: int  # TheEye's name


# --- seed 003's batch API (not in the envelope) ------------------------------------------------


class BatchError(BaseModel):
    code: int
    """The HTTP status the same failure gets from the REST routes (400, 403, 404, 502...)."""
    message: str


class BatchEntry(BaseModel):
    """One call's answer: ``result`` (its shape is the method's) or ``error``."""

    method: str
    id: str | int | None = None
    """The call's ``id``, when it had one."""
    result: Any = None
    error: BatchError | None = None


class BatchAnswer(BaseModel):
    reply: list[BatchEntry]


class BatchFailure(BaseModel):
    """A request refused as a whole (bad body, no token): no call was run."""

    reply: list[BatchEntry] = Field(max_length=0)
    error: BatchError
