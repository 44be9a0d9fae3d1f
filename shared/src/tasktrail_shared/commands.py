"""The command contract between the API and the control service (NATS request/reply).

The API sends a :class:`CommandRequest` to ``tasktrail.control.<app>``; one control replica
of the queue group executes it and replies with a :class:`CommandReply`. Control records the
command in the log twice, as ``tasktrail.command.requested`` and ``tasktrail.command.completed``
(payload: ``command_id``, ``command``, ``actor``, ``args``, and ``outcome`` once completed).

Each command's arguments are described by one model in :data:`ARGUMENTS`, with every rule
about them, cross-field ones included (``run`` takes ``eta`` or ``countdown``, not both). The
API validates request bodies with these models and control validates with nothing else, so a
bad request is refused with the same message wherever it is caught, and what the API accepts
control executes. Numbers and flags are strict: ``false`` is not a count, ``1`` is not
``true``. ``names`` (worker hostnames) is optional where present: absent means every worker;
an empty list is refused, since Celery would read it as every worker too.
"""

from __future__ import annotations

import ast
import signal as signals
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_serializer,
    model_validator,
)

from tasktrail_shared.fields import LabelValue, check_storable, is_label_name
from tasktrail_shared.models import ClosedModel
from tasktrail_shared.times import ZonedTime

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

MAX_IDS = 10_000
"""Task ids one command may name (``sync`` goes in chunks of at most this many)."""
MAX_NAMES = 1000
"""Workers one command may name."""
NOT_IN_FULL = "arguments were not captured in full"


def control_subject(app: str) -> str:
    return f"tasktrail.control.{app}"


def _unique(values: list[str]) -> list[str]:
    """Repeats are dropped, first occurrence kept: naming a task twice revokes it once."""
    return list(dict.fromkeys(values))


def _some_workers(names: list[str] | None) -> list[str] | None:
    if names is not None and not names:
        raise ValueError("list at least one worker, or leave it out for all workers")
    return None if names is None else _unique(names)


def normalise_signal(value: Any) -> str:
    """``SIGTERM``, ``term``, ``15`` and ``"15"`` all mean ``SIGTERM``; any other value is
    refused (leave the argument out for the default, ``SIGTERM``)."""
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise ValueError("signal must be a name like SIGTERM or a number")
    text = str(value).strip().upper()
    if text.isdigit():
        try:
            return signals.Signals(int(text)).name
        except ValueError:
            raise ValueError(f"unknown signal number {text}") from None
    name = text if text.startswith("SIG") else f"SIG{text}"
    if name not in signals.Signals.__members__:
        raise ValueError(f"unknown signal {value!r}")
    return name


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
"""A task id, task name, worker hostname, queue...: 1 to 255 characters."""
Ids = Annotated[
    list[Name],
    Field(min_length=1, max_length=MAX_IDS, description="Task ids"),
    AfterValidator(_unique),
]
Workers = Annotated[
    list[Name],
    Field(min_length=1, max_length=MAX_NAMES, description="Worker hostnames"),
    AfterValidator(_unique),
]
SomeWorkers = Annotated[
    list[Name] | None,
    Field(max_length=MAX_NAMES, description="Worker hostnames; absent: every worker"),
    AfterValidator(_some_workers),
]
Signal = Annotated[
    str,
    BeforeValidator(normalise_signal),
    Field(description="Signal to terminate with: a name (SIGTERM, term) or a number (15)"),
]
Count = Annotated[StrictInt, Field(ge=0, le=10_000)]


def _label_name(name: str) -> str:
    if not is_label_name(name):
        raise ValueError(
            f"{name[:64]!r} cannot name a label (a letter, then letters, digits or _, "
            "and not a task field)"
        )
    return name


LabelName = Annotated[str, AfterValidator(_label_name)]
Seconds = Annotated[StrictFloat, Field(ge=0, le=10**7, allow_inf_nan=False)]
Limit = Annotated[StrictFloat, Field(gt=0, le=10**7, allow_inf_nan=False)]
"""A time limit of one run, in seconds (Celery reads 0 as "none")."""
RATE = r"^\d{1,9}(\.\d{1,6})?(/[smh])?$"


class RevokeArgs(ClosedModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"ids": ["2acef619-cb56-4f7b-9777-936dc5cb371b"]}]}
    )
    ids: Ids
    terminate: StrictBool = Field(default=False, description="Also kill the running task")
    signal: Signal = "SIGTERM"


class RevokeByStampedHeadersArgs(ClosedModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"headers": {"batch": "b1"}}]})
    headers: Annotated[
        dict[Name, Name | Annotated[list[Name], Field(max_length=MAX_IDS)]],
        AfterValidator(check_storable),
    ] = Field(min_length=1, max_length=100, description="Stamped header -> value, or values")
    terminate: StrictBool = False
    signal: Signal = "SIGTERM"


class ShutdownArgs(ClosedModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"names": ["celery@host"]}]})
    names: Workers


class PingArgs(ClosedModel):
    names: SomeWorkers = None


class RefreshArgs(ClosedModel):
    """Ping and inspect; ``expected`` workers that do not answer are recorded unreachable."""

    names: SomeWorkers = None
    expected: Annotated[list[Name], Field(max_length=MAX_NAMES), AfterValidator(_unique)] = Field(
        default_factory=list, description="Workers believed online, checked as well"
    )


class SyncArgs(ClosedModel):
    """Look the tasks up in the result backend; each one found becomes a reconciled event."""

    ids: Ids


class PoolArgs(ClosedModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"n": 2, "names": ["celery@h"]}]})
    n: Annotated[StrictInt, Field(ge=1, le=1000)] = Field(
        default=1, description="Processes to add or remove"
    )
    names: SomeWorkers = None


class AutoscaleArgs(ClosedModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"max": 8, "min": 2}]})
    max: Count = Field(description="Most pool processes")
    min: Count = Field(description="Fewest pool processes, at most max")
    names: SomeWorkers = None

    @model_validator(mode="after")
    def _min_at_most_max(self) -> AutoscaleArgs:
        if self.min > self.max:
            raise ValueError("'min' must not exceed 'max'")
        return self


class RateLimitArgs(ClosedModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"task_name": "demo.add", "rate": "10/m"}]}
    )
    task_name: Name
    rate: (
        Annotated[str, StringConstraints(pattern=RATE)]
        | Annotated[StrictInt, Field(ge=0, le=10**9)]
        | None
    ) = Field(description="Tasks per second, or '10/m', '100/s', '5/h'; 0 or null removes it")
    names: SomeWorkers = None


class TimeLimitArgs(ClosedModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"task_name": "demo.add", "soft": 50, "hard": 60}]}
    )
    task_name: Name
    soft: Seconds | None = Field(default=None, description="Seconds; null removes it")
    hard: Seconds | None = Field(
        default=None, description="Seconds, at least soft; null removes it"
    )
    names: SomeWorkers = None

    @model_validator(mode="after")
    def _soft_before_hard(self) -> TimeLimitArgs:
        if self.soft is not None and self.hard is not None and self.soft > self.hard:
            raise ValueError("'soft' must not exceed 'hard': the soft limit would never fire")
        return self


class ConsumerArgs(ClosedModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"queue": "priority"}]})
    queue: Name
    exchange: Name | None = None
    routing_key: Name | None = None
    names: SomeWorkers = None


class PurgeArgs(ClosedModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"queue": "celery"}]})
    queue: Name = Field(description="Every message waiting in it is deleted")


class RunArgs(ClosedModel):
    """Send a task by name. It starts at ``eta`` or after ``countdown`` seconds (give one,
    not both), or at once."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"name": "demo.add", "args": [2, 3]},
                {"name": "demo.add", "kwargs": {"x": 2}, "eta": "2030-01-02T03:04:05Z"},
            ]
        }
    )
    name: Name = Field(description="The registered task name")
    args: Annotated[list[Any], AfterValidator(check_storable)] = Field(
        default_factory=list, max_length=10_000, description="Positional arguments (JSON)"
    )
    kwargs: Annotated[dict[str, Any], AfterValidator(check_storable)] = Field(
        default_factory=dict, max_length=10_000, description="Keyword arguments (JSON)"
    )
    queue: Name | None = None
    eta: ZonedTime | None = Field(
        default=None, description="ISO 8601 time with a time zone (or epoch seconds)"
    )
    countdown: Annotated[StrictFloat, Field(ge=0, le=10**8, allow_inf_nan=False)] | None = Field(
        default=None, description="Seconds from now"
    )
    time_limit: Limit | None = Field(
        default=None, description="Seconds the run may take before its worker process is killed"
    )
    soft_time_limit: Limit | None = Field(
        default=None,
        description="Seconds before the task is interrupted (SoftTimeLimitExceeded), at most "
        "time_limit",
    )
    labels: Annotated[dict[LabelName, LabelValue], Field(max_length=32)] | None = Field(
        default=None,
        description="Labels of the new task: control records them as it sends it "
        "(tasktrail.task.recorded), so the task shows them from its first event on",
    )

    @field_serializer("eta")
    def _eta_as_iso(self, eta: datetime | None) -> str | None:
        """On the wire as Python writes it (``+00:00``), as the contract always carried it."""
        return None if eta is None else eta.isoformat()

    @model_validator(mode="after")
    def _eta_or_countdown(self) -> RunArgs:
        if self.eta is not None and self.countdown is not None:
            raise ValueError("give either 'eta' or 'countdown', not both")
        soft, hard = self.soft_time_limit, self.time_limit
        if soft is not None and hard is not None and soft > hard:
            raise ValueError("'soft_time_limit' must not exceed 'time_limit'")
        return self


def _whole_literal(text: str, field: str) -> Any:
    """The value of a repr Celery captured whole; ``ValueError`` if it was cut or is no literal."""
    if "..." in text:  # Celery cuts reprs longer than 1024 characters with "..."
        raise ValueError(f"'{field}': {NOT_IN_FULL} (Celery truncated them)")
    try:
        return ast.literal_eval(text)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise ValueError(f"'{field}': {NOT_IN_FULL}: not Python literals ({exc})") from exc


class RetryArgs(ClosedModel):
    """Re-run a task with its original arguments, known only as Celery's repr strings.

    They must be whole Python literals: a cut repr or an object's repr would run the task
    with other arguments than the original, so it is refused.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"id": "t1", "name": "demo.add", "args": "(2, 3)", "kwargs": "{}"}]
        }
    )
    id: Name = Field(description="The original task (for the audit trail)")
    name: Name
    args: str | None = Field(description="argsrepr as captured by task-sent/received")
    kwargs: str | None = Field(default=None, description="kwargsrepr; null means none")
    queue: Name | None = None

    @model_validator(mode="after")
    def _captured_in_full(self) -> RetryArgs:
        self.original_arguments()
        return self

    def original_arguments(self) -> tuple[list[Any], dict[str, Any]]:
        """The task's arguments back from the reprs (checked whole when the model was built)."""
        if self.args is None:
            raise ValueError(f"'args': {NOT_IN_FULL} (none were recorded)")
        args = _whole_literal(self.args, "args")
        kwargs = _whole_literal(self.kwargs or "{}", "kwargs")
        if not isinstance(args, list | tuple):
            raise ValueError(f"'args': {NOT_IN_FULL}: not a tuple or list")
        if not isinstance(kwargs, dict) or not all(isinstance(key, str) for key in kwargs):
            raise ValueError(f"'kwargs': {NOT_IN_FULL}: not a mapping of names")
        return list(args), kwargs


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
    id: Annotated[str, StringConstraints(min_length=1, max_length=255)] = Field(
        default_factory=lambda: uuid.uuid4().hex
    )
    """Idempotency key: a request repeated with the same id executes once, and every
    repetition gets the first execution's reply."""
    command: CommandName
    args: dict[str, Any] = Field(default_factory=dict)
    actor: str = "anonymous"
    timeout: StrictFloat = Field(default=2.0, gt=0, le=60)
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


def problems(exc: ValidationError) -> str:
    """What is wrong with some arguments, each problem led by the field it is about."""
    described = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        described.append(f"'{where}': {message}" if where else message)
    return "; ".join(described)


def check_arguments(command: str, raw: Any) -> BaseModel:
    """``raw`` as the model of ``command``; ``ValueError`` saying what is wrong, field first."""
    try:
        return ARGUMENTS[command].model_validate(raw)
    except ValidationError as exc:
        raise ValueError(f"invalid arguments for {command}: {problems(exc)}") from exc
