"""Request bodies and the documented shapes of response data (names follow the original API).

Command bodies mirror ``tasktrail_shared.commands.ARGUMENTS`` with tighter limits (an empty
``names`` list would mean "every worker" to Celery, so it is refused here); routes send them
as those models dump, so control receives exactly the contract's arguments.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, field_validator
from tasktrail_shared.commands import normalise_signal as normalize_signal
from tasktrail_shared.fields import StorableJson as Json
from tasktrail_shared.times import bounded

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
MAX_IDS = 1000


def _dedupe(values: list[str] | None) -> list[str] | None:
    return None if values is None else list(dict.fromkeys(values))


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


Names = Annotated[list[Name], Field(min_length=1, max_length=MAX_IDS)]
SomeNames = Annotated[
    list[Name] | None,
    Field(default=None, min_length=1, max_length=MAX_IDS, description="Absent: every worker"),
]


class RevokeRequest(Body):
    ides: Names
    """Task ids; the misspelling is the original API's and clients depend on it."""
    terminate: bool = False
    signal: str = "SIGTERM"

    _unique = field_validator("ides")(_dedupe)
    _signal = field_validator("signal", mode="before")(normalize_signal)


class RevokeByStampRequest(Body):
    headers: dict[Name, Name | Names] = Field(min_length=1, max_length=100)
    terminate: bool = False
    signal: str = "SIGTERM"

    _signal = field_validator("signal", mode="before")(normalize_signal)


class ShutdownRequest(Body):
    names: Names

    _unique = field_validator("names")(_dedupe)


class NamesRequest(Body):
    names: SomeNames = None

    _unique = field_validator("names")(_dedupe)


class PoolRequest(NamesRequest):
    n: int = Field(default=1, ge=1, le=1000)


class AutoscaleRequest(NamesRequest):
    max: int = Field(ge=0, le=10_000)
    min: int = Field(ge=0, le=10_000)


class RateLimitRequest(NamesRequest):
    task_name: Name
    rate: (
        Annotated[str, StringConstraints(pattern=r"^\d{1,9}(/[smh])?$")]
        | Annotated[int, Field(ge=0, le=10**9)]
        | None
    ) = Field(description="e.g. '10/m', '100/s', 5; 0 or null removes the limit")


class TimeLimitRequest(NamesRequest):
    task_name: Name
    soft: float | None = Field(default=None, ge=0, le=10**7, allow_inf_nan=False)
    hard: float | None = Field(default=None, ge=0, le=10**7, allow_inf_nan=False)


class ConsumerRequest(NamesRequest):
    queue: Name
    exchange: Name | None = None
    routing_key: Name | None = None


class PurgeRequest(Body):
    queue: Name


class RunRequest(Body):
    name: Name
    args: list[Json] = Field(default_factory=list, max_length=10_000)
    kwargs: dict[Name, Json] = Field(default_factory=dict, max_length=10_000)
    queue: Name | None = None
    eta: AwareDatetime | None = Field(default=None, description="ISO 8601 with a time zone")
    countdown: float | None = Field(default=None, ge=0, le=10**8, allow_inf_nan=False)

    @field_validator("eta")
    @classmethod
    def _eta_range(cls, value: datetime | None) -> datetime | None:
        return bounded(value)


class TokenRequest(Body):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]
    role: Literal["viewer", "operator", "admin"]


# --- response data --------------------------------------------------------------------------


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
    count: int
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
    role: str
    created: datetime | None
    created_by: str | None


class NewToken(BaseModel):
    token: Token
    secret: str
    """The token itself: shown once, stored only as a digest."""


class TokenList(BaseModel):
    tokens: list[Token]


class Health(BaseModel):
    status: str
    checks: dict[str, bool] = Field(default_factory=dict)
