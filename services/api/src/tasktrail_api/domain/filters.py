"""Query-string parameters of the lists, checked: what a client may ask for.

Each model names the field at fault when a value is refused, so the answer can say which.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from tasktrail_shared.fields import LABEL_NAME
from tasktrail_shared.states import parse_status
from tasktrail_shared.times import bounded

from tasktrail_api.domain.errors import BadRequest

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Moment = Annotated[AwareDatetime | None, AfterValidator(bounded)]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_TASK_OFFSET = 10_000
TIME_FILTERS = ("received", "started", "succeeded", "timestamp")
EQUAL_FILTERS = ("uuid", "name", "worker", "parent_id", "root_id", "queue", "app")
LABEL_PREFIX = "label."
SortParam = Literal[
    "timestamp",
    "-timestamp",
    "received",
    "-received",
    "started",
    "-started",
    "succeeded",
    "-succeeded",
    "runtime",
    "-runtime",
    "name",
    "-name",
]
TRUE, FALSE = ("", "1", "true", "yes", "on"), ("0", "false", "no", "off")


class Page(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_absent(cls, data: Any) -> Any:
        """``?status=`` from a form is "no filter", as in the original API."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v != ""}
        return data


class TaskFilters(Page):
    offset: int = Field(default=0, ge=0, le=MAX_TASK_OFFSET)
    """An offset reads every row it skips: past this, page with ``cursor``."""
    uuid: Text | None = None
    status: Text | None = None
    """A state name (any case) or letter; several may be given comma-separated."""
    name: Text | None = None
    worker: Text | None = None
    parent_id: Text | None = None
    root_id: Text | None = None
    queue: Text | None = None
    app: Text | None = None
    cidr_id: Text | None = None
    cidr_ip_network: Text | None = None
    asn_id: Text | None = None
    asn_number: Text | None = None
    published: bool | None = None
    """``true``: the task-sent event was seen (``sent`` is set); ``false``: it was not."""
    received_after: Moment = None
    received_before: Moment = None
    started_after: Moment = None
    started_before: Moment = None
    succeeded_after: Moment = None
    succeeded_before: Moment = None
    timestamp_after: Moment = None
    timestamp_before: Moment = None
    q: Text | None = None
    """Free text, matched (ignoring case) within name, args, kwargs and result; searched
    among the tasks of one time range (see ``domain.shapes``)."""
    sort: SortParam = "-timestamp"
    cursor: Annotated[str, StringConstraints(max_length=2048)] | None = None

    @field_validator("status")
    @classmethod
    def _known_states(cls, value: str | None) -> str | None:
        if value is None:
            return None
        wanted = [parse_status(part) for part in value.split(",") if part.strip()]
        if not wanted:
            raise ValueError(f"unknown task status {value!r}")
        return ",".join(dict.fromkeys(wanted))

    def time_range(self, field: str) -> tuple[datetime | None, datetime | None]:
        """``(after, before)`` of one of :data:`TIME_FILTERS`."""
        after: datetime | None = getattr(self, f"{field}_after")
        before: datetime | None = getattr(self, f"{field}_before")
        return after, before


class WorkerFilters(Page):
    name: Text | None = None
    status: bool | None = None
    """Online (``1``/``true``) or offline (``0``/``false``)."""
    app: Text | None = None


class EventFilters(Page):
    type: Text | None = None
    """An event type (``tasktrail.command.completed``), or a prefix ending in ``*``
    (``tasktrail.command.*``, ``celery.task.*``)."""
    actor: Text | None = None
    uuid: Text | None = None
    after: Moment = None
    before: Moment = None

    @field_validator("type")
    @classmethod
    def _type_shape(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+\*?", value):
            raise ValueError("letters, digits, '.', '_', '-', optionally ending in '*'")
        return value


def label_filters(params: Mapping[str, str]) -> dict[str, str]:
    """``label.<name>=value`` query parameters, by label name; BadRequest on a bad one."""
    found: dict[str, str] = {}
    for key, value in params.items():
        if not key.startswith(LABEL_PREFIX):
            continue
        name = key.removeprefix(LABEL_PREFIX)
        if not LABEL_NAME.match(name):
            raise BadRequest(f"{key}: a label name is a letter then letters, digits or _")
        if value.strip():
            if len(value) > 255:
                raise BadRequest(f"{key}: at most 255 characters")
            found[name] = value.strip()
    return found


def parse_flag(raw: str | None, field: str) -> bool:
    """A boolean query parameter where the bare name (``?sync``) means true."""
    if raw is None:
        return False
    word = raw.strip().lower()
    if word in TRUE:
        return True
    if word in FALSE:
        return False
    raise BadRequest.field(field, "expected true or false")
