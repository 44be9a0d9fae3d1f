"""Request bodies of the command endpoints, derived from the shared argument models.

Each body subclasses the model of ``tasktrail_shared.commands.ARGUMENTS`` that control
validates with, so every rule of the contract (cross-field ones included) refuses a bad body
here with a 400, not at control with a 502. What a body adds is the HTTP boundary's own:
the original API's field name ``ides``, signal names normalised, tighter size limits, and
an empty ``names`` list refused (Celery would read it as "every worker"). A body dumps to
exactly the contract's arguments.
"""

from __future__ import annotations

import signal as signals
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_validator,
)
from tasktrail_shared.commands import (
    AutoscaleArgs,
    ConsumerArgs,
    PingArgs,
    PoolArgs,
    PurgeArgs,
    RateLimitArgs,
    RevokeArgs,
    RevokeByStampedHeadersArgs,
    RunArgs,
    ShutdownArgs,
    TimeLimitArgs,
)

from tasktrail_api.domain.errors import Unprocessable
from tasktrail_api.domain.times import in_year_range
from tasktrail_api.domain.writes import Json

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
MAX_IDS = 1000
Names = Annotated[list[Name], Field(min_length=1, max_length=MAX_IDS)]
SomeNames = Annotated[
    list[Name] | None,
    Field(default=None, min_length=1, max_length=MAX_IDS, description="Absent: every worker"),
]
Seconds = Annotated[float, Field(ge=0, le=10**7, allow_inf_nan=False)]

IDEMPOTENCY_KEY = r"^[!-~](?:[ -~]{0,253}[!-~])?$"
"""An ``Idempotency-Key``: 1 to 255 printable ASCII characters, no space at either end."""


def _dedupe(values: list[str] | None) -> list[str] | None:
    return None if values is None else list(dict.fromkeys(values))


def normalize_signal(value: Any) -> str:
    """``SIGTERM``, ``term``, ``15`` and ``"15"`` all mean ``SIGTERM``; anything else is refused."""
    if isinstance(value, bool):
        raise ValueError("signal must be a name like SIGTERM or a number")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int):
        try:
            return signals.Signals(value).name
        except ValueError:
            raise ValueError(f"unknown signal number {value}") from None
    if isinstance(value, str):
        name = value.strip().upper()
        name = name if name.startswith("SIG") else f"SIG{name}"
        if name in signals.Signals.__members__:
            return name
        raise ValueError(f"unknown signal {value!r}")
    raise ValueError("signal must be a name like SIGTERM or a number")


_MOMENT: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)


def _eta(value: Any) -> Any:
    """An ISO 8601 time with a zone, within the years the contracts accept, as ISO text."""
    if value is None:
        return None
    try:
        moment = _MOMENT.validate_python(value)
    except ValidationError as exc:
        raise ValueError(exc.errors()[0]["msg"]) from None
    return in_year_range(moment).isoformat()


Eta = Annotated[
    str | None,
    BeforeValidator(_eta),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]}),
]


class SomeWorkers(BaseModel):
    """``names`` of the workers to address; absent means every worker, empty is refused."""

    model_config = ConfigDict(extra="forbid")

    names: SomeNames = None

    _unique = field_validator("names")(_dedupe)


class RevokeBody(RevokeArgs):
    ids: Names = Field(validation_alias="ides")
    """Task ids, sent as ``ides``: the misspelling is the original API's, clients rely on it."""
    signal: str = "SIGTERM"

    _unique = field_validator("ids")(_dedupe)
    _signal = field_validator("signal", mode="before")(normalize_signal)


class RevokeByStampBody(RevokeByStampedHeadersArgs):
    headers: dict[Name, Name | Names] = Field(min_length=1, max_length=100)
    signal: str = "SIGTERM"

    _signal = field_validator("signal", mode="before")(normalize_signal)


class ShutdownBody(ShutdownArgs):
    names: Names

    _unique = field_validator("names")(_dedupe)


class PingBody(SomeWorkers, PingArgs):
    pass


class PoolBody(SomeWorkers, PoolArgs):
    pass


class AutoscaleBody(SomeWorkers, AutoscaleArgs):
    pass


class RateLimitBody(SomeWorkers, RateLimitArgs):
    task_name: Name
    rate: (
        Annotated[str, StringConstraints(pattern=r"^\d{1,9}(/[smh])?$")]
        | Annotated[int, Field(ge=0, le=10**9)]
        | None
    ) = Field(description="e.g. '10/m', '100/s', 5; 0 or null removes the limit")


class TimeLimitBody(SomeWorkers, TimeLimitArgs):
    task_name: Name
    soft: Seconds | None = None
    hard: Seconds | None = None


class ConsumerBody(SomeWorkers, ConsumerArgs):
    queue: Name
    exchange: Name | None = None
    routing_key: Name | None = None


class PurgeBody(PurgeArgs):
    queue: Name


class RunBody(RunArgs):
    name: Name
    args: list[Json] = Field(default_factory=list, max_length=10_000)
    kwargs: dict[Name, Json] = Field(default_factory=dict, max_length=10_000)
    queue: Name | None = None
    eta: Eta = Field(default=None, description="ISO 8601 with a time zone")
    countdown: float | None = Field(default=None, ge=0, le=10**8, allow_inf_nan=False)


def retry_arguments(task_id: str, doc: Mapping[str, Any]) -> dict[str, Any]:
    """``retry``'s arguments from the task as recorded: refused unless its name is known and
    its arguments were captured in full (Celery cuts long reprs with ``...``)."""
    name, args, kwargs = doc.get("name"), doc.get("args"), doc.get("kwargs")
    if not isinstance(name, str) or not name:
        raise Unprocessable("the task's name is not known, so it cannot be sent again")
    if not isinstance(args, str) or "..." in args or (isinstance(kwargs, str) and "..." in kwargs):
        raise Unprocessable("the task's arguments were not captured in full")
    queue = doc.get("queue")
    return {
        "id": task_id,
        "name": name,
        "args": args,
        "kwargs": kwargs if isinstance(kwargs, str) else None,
        "queue": queue if isinstance(queue, str) else None,
    }
