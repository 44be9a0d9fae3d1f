"""Scheduled jobs: the events of seed 002 (``POST /event``) and the ones tasktrail derives
from them, as they travel in the log.

A scheduler (APScheduler, Celery beat) reports what happens to it and to its jobs; the API
validates each report (:class:`Report`) and publishes it as ``tasktrail.schedule.reported``
with the reporting token's organisation. The projector folds reports into the
``schedulers``, ``schedule_jobs`` and ``schedule_runs`` read models, and its sweep writes
what it concludes from time passing (a run that never happened, a scheduler gone silent, a
beat run's outcome taken from its Celery task) as events of their own, so alerts and the
audit trail read them from the log like anything else.

Times on the wire are epoch seconds or milliseconds, told apart by magnitude
(:func:`epoch_seconds`); in the log, always seconds.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StringConstraints,
    model_validator,
)

from tasktrail_shared.models import ClosedModel
from tasktrail_shared.times import is_epoch

REPORTED = "tasktrail.schedule.reported"
"""One scheduler event as a scheduler reported it (``POST /event``), with its organisation."""
JOB_CONFIGURED = "tasktrail.schedule.job_configured"
"""A job's grace period and maximum run time, as set over the API (latest by ``(at, id)``)."""
JOB_HEALTH = "tasktrail.schedule.job_health"
"""The sweep found that a job's health changed (``ok``, ``late``, ``missed``, ...)."""
SCHEDULER_SILENT = "tasktrail.schedule.scheduler_silent"
"""The sweep found a scheduler silent while jobs of it are overdue: ``unresponsive``."""
SCHEDULE_TYPES = frozenset({REPORTED, JOB_CONFIGURED, JOB_HEALTH, SCHEDULER_SILENT})

EVENT_CODES: dict[int, str] = {
    1: "scheduler_started",
    2: "scheduler_shutdown",
    4: "scheduler_paused",
    8: "scheduler_resumed",
    16: "executor_added",
    32: "executor_removed",
    64: "jobstore_added",
    128: "jobstore_removed",
    256: "all_jobs_removed",
    512: "job_added",
    1024: "job_removed",
    2048: "job_modified",
    4096: "job_executed",
    8192: "job_error",
    16384: "job_missed",
    32768: "job_submitted",
    65536: "job_max_instances",
}
"""APScheduler 3.x's event codes (``apscheduler.events.EVENT_*``) and what each means."""
STARTED, SHUTDOWN, PAUSED, RESUMED = 1, 2, 4, 8
ALL_JOBS_REMOVED, JOB_ADDED, JOB_REMOVED, JOB_MODIFIED = 256, 512, 1024, 2048
EXECUTED, ERROR, MISSED, SUBMITTED, MAX_INSTANCES = 4096, 8192, 16384, 32768, 65536
SCHEDULER_CODES = frozenset({STARTED, SHUTDOWN, PAUSED, RESUMED})
RUN_CODES: dict[int, str] = {
    SUBMITTED: "submitted",
    EXECUTED: "executed",
    ERROR: "error",
    MISSED: "missed",
    MAX_INSTANCES: "max_instances",
}
"""The codes that are a run of a job, by the name a run's ``kind`` and a job's ``counts``
use."""
JOB_CODES = frozenset({JOB_ADDED, JOB_REMOVED, JOB_MODIFIED, *RUN_CODES})
"""Codes that concern one job: they need a ``job_id``."""

HEALTHS = ("ok", "late", "missed", "failing", "timeout", "paused")
Health = Literal["ok", "late", "missed", "failing", "timeout", "paused"]
STATES = ("running", "paused", "shutdown", "unresponsive")

DEFAULT_GRACE_SECONDS = 60.0
"""How long past its expected run time a job may go without a submission before it is
``missed`` (``late`` until then), unless the job has its own."""
MILLISECONDS_FROM = 100_000_000_000
"""A wire time at or above this is milliseconds: as seconds it would be after the year 5000,
as milliseconds it is after March 1973."""
DEFAULT_ALIAS = "default"
"""The scheduler of a report that names none (the seed's job payloads carry no alias)."""
MAX_TEXT = 64 * 1024
"""Longest exception, traceback or return value kept (longer ones are cut)."""

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]


def epoch_seconds(value: float) -> float:
    """A wire time in seconds: ``value`` as given, or divided by 1000 if it is milliseconds
    (:data:`MILLISECONDS_FROM`); ``ValueError`` outside 1970 to 9999."""
    seconds = value / 1000 if abs(value) >= MILLISECONDS_FROM else float(value)
    if not is_epoch(seconds):
        raise ValueError(f"{value!r} is not a time (epoch seconds or milliseconds, 1970 to 9999)")
    return seconds


def _wire_time(value: Any) -> Any:
    """Numbers only (a bool is not a time); the rest is left to the type's own check."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return epoch_seconds(value)


def _text(value: Any) -> Any:
    """Exceptions and return values arrive as text, or as any JSON value (kept as its JSON)."""
    if value is None or isinstance(value, str):
        return value if value is None else value[:MAX_TEXT]
    return json.dumps(value, default=str)[:MAX_TEXT]


def _job_id(value: Any) -> Any:
    """The seed's example sends a number: a job id is kept as text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _code(value: int) -> int:
    if value not in EVENT_CODES:
        raise ValueError(f"{value} is not an APScheduler event code")
    return value


WireTime = Annotated[StrictFloat | None, BeforeValidator(_wire_time)]
Text = Annotated[str | None, BeforeValidator(_text)]
JobId = Annotated[Name | None, BeforeValidator(_job_id)]


class Report(BaseModel):
    """The body of ``POST /event`` (seed 002), every variant in one model.

    ``job_store`` (the seed) and ``jobstore`` (what CronEye's server reads) are the same
    field; so are ``next_scheduled_run_time`` and ``next_run_time``. Extra fields are
    ignored, as the seed's server ignores them.
    """

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    event_code: Annotated[StrictInt, AfterValidator(_code)]
    alias: Name = DEFAULT_ALIAS
    job_id: JobId = None
    jobstore: Name | None = Field(
        default=None, validation_alias=AliasChoices("jobstore", "job_store")
    )
    task: Annotated[str, StringConstraints(max_length=1000)] | None = None
    time: WireTime = Field(default=None, description="epoch seconds or milliseconds (UTC)")
    next_run_time: WireTime = Field(
        default=None,
        validation_alias=AliasChoices("next_run_time", "next_scheduled_run_time"),
        description="epoch seconds or milliseconds; null: the job is paused",
    )
    scheduled_run_time: WireTime = None
    exception: Text = None
    traceback: Text = None
    return_value: Text = None
    celery_task_id: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, description="Celery beat: the id of the task a submission dispatched"
    )

    @model_validator(mode="after")
    def _names_its_job(self) -> Report:
        """A job event must name its job."""
        if self.event_code in JOB_CODES and self.job_id is None:
            raise ValueError(f"event_code {self.event_code} needs a job_id")
        return self


class SchedulerFact(ClosedModel):
    """What every schedule event's payload names: one scheduler (``alias``) of organisation
    ``org``. Strict, so that the log holds nothing the projector does not read."""

    org: str
    alias: str


class JobFact(SchedulerFact):
    """A schedule event about one job of the scheduler."""

    job_id: str


class Reported(SchedulerFact):
    """The payload of :data:`REPORTED`: the report, its organisation and when it happened.

    ``time`` is the scheduler's time of the event, or the API's receive time when the report
    gave none. ``has_next`` says whether the report carried ``next_run_time`` at all (a null
    one pauses the job). The id of the event is the hash of this payload, so a client's retry
    of the same report is dropped as a duplicate.
    """

    code: int
    time: float
    job_id: str | None = None
    jobstore: str | None = None
    task: str | None = None
    next_run_time: float | None = None
    has_next: bool = False
    scheduled_run_time: float | None = None
    exception: str | None = None
    traceback: str | None = None
    return_value: str | None = None
    celery_task_id: str | None = None
    via: str = Field(default="report", description="report: from a scheduler; task: the sweep")


def reported(report: Report, org: str, received: float) -> Reported:
    """What the log keeps of a report."""
    fields = report.model_dump(exclude={"event_code"}, exclude_none=True)
    fields.pop("time", None)
    return Reported(
        org=org,
        code=report.event_code,
        time=report.time if report.time is not None else received,
        has_next="next_run_time" in report.model_fields_set,
        **fields,
    )


Seconds = Annotated[float, Field(gt=0, le=365 * 86400)]


class JobConfigured(JobFact):
    grace_seconds: Seconds | None = None
    """``None``: :data:`DEFAULT_GRACE_SECONDS`."""
    max_runtime_seconds: Seconds | None = None
    """``None``: no limit (no ``timeout``)."""
    at: float
    actor: str


class JobHealth(JobFact):
    """A job's health changed; ``at`` is when the new health became true (a deadline that
    passed, or the time of the run that decided it), so that every sweep, in any replica,
    writes the same event for the same change."""

    health: Health
    previous: str | None = None
    at: float


class SchedulerSilent(SchedulerFact):
    """A scheduler has said nothing since before a job of it was overdue (``at``: the
    earliest such deadline), and it did not shut down."""

    at: float
    last_seen: float


PAYLOADS: dict[str, type[BaseModel]] = {
    REPORTED: Reported,
    JOB_CONFIGURED: JobConfigured,
    JOB_HEALTH: JobHealth,
    SCHEDULER_SILENT: SchedulerSilent,
}


def scheduler_key(org: str, alias: str) -> str:
    """The ``_id`` of a scheduler document: organisation and alias."""
    return f"{org}/{alias}"


def job_key(org: str, alias: str, job_id: str) -> str:
    return f"{org}/{alias}/{job_id}"


def canonical(payload: BaseModel) -> bytes:
    """The bytes a schedule event is published as (and its content id hashed from)."""
    return json.dumps(
        payload.model_dump(exclude_none=True), separators=(",", ":"), sort_keys=True
    ).encode()
