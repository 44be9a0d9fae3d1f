"""Writes as events: request bodies become the fields of ``tasktrail.task.*`` /
``tasktrail.worker.*`` payloads, and the test that tells when the projector has applied one.

The API never writes read models. It publishes the event to the log and reads the document
back once the projector has folded it in, so a write and a replay give the same document.
Bodies are validated here with the projector's own rules (field names, times, states,
BSON-storable values), so an event the API publishes is never dead-lettered.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from tasktrail_shared import own_events
from tasktrail_shared.fields import (
    INT64,
    WORKER_SETTABLE,
    LabelValue,
    StorableJson,
    is_label_name,
)
from tasktrail_shared.models import ClosedModel
from tasktrail_shared.states import parse_status
from tasktrail_shared.times import as_utc, in_range

from tasktrail_api.domain.scope import ClusterName

ID_PATTERN = r"^[^/\s\x00]{1,255}$"
"""Task ids and hostnames: they end up in URL paths and ``_id``s."""


class Change(enum.StrEnum):
    """What a hand-made write does to a task or worker (the suffix of its event type)."""

    RECORDED = "recorded"
    AMENDED = "amended"
    DELETED = "deleted"


Time = Annotated[datetime, AfterValidator(in_range)]
Ident = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Short = Annotated[str, StringConstraints(max_length=1024)]
Long = Annotated[str, StringConstraints(max_length=256 * 1024)]
Int64 = Annotated[int, Field(ge=0, lt=INT64)]


def _wire(value: Any) -> Any:
    """Times travel as ISO 8601 (the payload contract); everything else as given."""
    return value.isoformat() if isinstance(value, datetime) else value


class TaskFields(ClosedModel):
    """Every field a task write may give. Absent means "not given"; ``null`` in a PATCH clears."""

    name: Short | None = None
    status: Annotated[str, StringConstraints(max_length=32)] | None = Field(
        default=None, description="A state name or letter: p r t s f v y j (see docs/api.md)"
    )
    args: StorableJson = None
    kwargs: StorableJson = None
    result: StorableJson = None
    retries: Int64 | None = None
    runtime: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    exception: Long | None = None
    traceback: Long | None = None
    worker: Short | None = None
    root_id: Short | None = None
    parent_id: Short | None = None
    queue: Short | None = None
    exchange: Short | None = None
    routing_key: Short | None = None
    eta: Short | None = None
    expires: Short | None = None
    sent: Time | None = None
    received: Time | None = None
    started: Time | None = None
    succeeded: Time | None = None
    failed: Time | None = None
    retried: Time | None = None
    revoked: Time | None = None
    rejected: Time | None = None
    timestamp: Time | None = None
    cidr_id: Short | None = None
    cidr_ip_network: Short | None = None
    asn_id: Short | None = None
    asn_number: Annotated[int, Field(ge=-INT64, lt=INT64)] | Short | None = None
    labels: dict[str, LabelValue | None] | None = Field(
        default=None, description="Any other labels, by name; null removes one (PATCH)"
    )

    @field_validator("status")
    @classmethod
    def _status(cls, value: str | None) -> str | None:
        return None if value is None else parse_status(value)

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for name in value or {}:
            if not is_label_name(name):
                raise ValueError(f"{name[:40]!r} cannot be a label name")
        return value

    def payload_fields(self, *, keep_nulls: bool) -> dict[str, Any]:
        """The given fields under their read-model names (``status`` is ``state``; labels
        flat), as the event payload's ``fields``."""
        names = sorted(self.model_fields_set & TaskFields.model_fields.keys())  # not ``uuid``
        given = {name: getattr(self, name) for name in names}
        out: dict[str, Any] = {
            label: value
            for label, value in (given.pop("labels", None) or {}).items()
            if value is not None or keep_nulls
        }
        for name, value in given.items():
            if value is not None or keep_nulls:
                out["state" if name == "status" else name] = _wire(value)
        return out


APP_FIELD = Field(
    default=None,
    description="The cluster (app) to record it in; absent: the caller's (see docs/api.md)",
)


class TaskCreate(TaskFields):
    uuid: Ident | None = Field(default=None, description="The Celery task id; generated if absent")
    app: ClusterName | None = APP_FIELD

    def identity(self) -> str | None:
        return self.uuid

    def cluster(self) -> str | None:
        return self.app


class Patch(BaseModel):
    """A PATCH body: it must change something."""

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        return self


class TaskPatch(TaskFields, Patch):
    pass


def _status_flag(value: Any) -> Any:
    """Seed workers carry ``status`` 0/1 or false/true."""
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise ValueError("status is 0, 1, false or true")


Status = Annotated[bool | int, AfterValidator(_status_flag)]


class WorkerFields(ClosedModel):
    status: Status | None = Field(
        default=None,
        description="Declared online (1/true) or offline (0/false); it holds until the worker "
        "itself next shows a sign (an event or an inspection), see docs/api.md",
    )
    pid: Int64 | None = None
    freq: Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)] | None = None
    active: Int64 | None = None
    processed: Int64 | None = None
    loadavg: list[Annotated[float, Field(allow_inf_nan=False)]] | None = Field(
        default=None, max_length=3
    )
    sw_ident: Short | None = None
    sw_ver: Short | None = None
    sw_sys: Short | None = None

    def payload_fields(self, *, keep_nulls: bool) -> dict[str, Any]:
        return {
            name: getattr(self, name)
            for name in sorted(WORKER_SETTABLE)
            if name in self.model_fields_set and (keep_nulls or getattr(self, name) is not None)
        }


class WorkerCreate(WorkerFields):
    name: Ident = Field(description="The worker's hostname, e.g. celery@host")
    app: ClusterName | None = APP_FIELD

    def identity(self) -> str | None:
        return self.name

    def cluster(self) -> str | None:
        return self.app


class WorkerPatch(WorkerFields, Patch):
    pass


def payload(event_type: str, **values: Any) -> dict[str, Any]:
    """An event payload checked against the shared contract, as JSON."""
    return own_events.PAYLOADS[event_type].model_validate(values).model_dump(mode="json")


# --- has the projector applied it? --------------------------------------------------------

APPLIED_PROJECTION = {"_records": 1, "_amend": 1, "deleted": 1, "labels": 1, "state": 1}
"""What :func:`applied` reads: ``_records`` and ``_amend`` are where the projector keeps the
latest hand-made event of each kind and of each amended field."""


def _mentions(doc: Mapping[str, Any], event_id: str) -> bool:
    """The document keeps our event as its latest of some kind or of some amended field."""
    held = [*(doc.get("_records") or {}).values(), *(doc.get("_amend") or {}).values()]
    return any(isinstance(h, Mapping) and h.get("id") == event_id for h in held)


def _same(stored: Any, wanted: Any) -> bool:
    if isinstance(wanted, str) and isinstance(stored, datetime):
        try:
            moment = as_utc(datetime.fromisoformat(wanted))
        except ValueError:
            return False
        return abs((as_utc(stored) - moment).total_seconds()) < 0.001
    return bool(stored == wanted)


def _fields_match(
    doc: Mapping[str, Any], fields: Mapping[str, Any], settable: frozenset[str]
) -> bool:
    labels = doc.get("labels") if isinstance(doc.get("labels"), Mapping) else {}
    for name, value in fields.items():
        stored = doc.get(name) if name in settable else (labels or {}).get(name)
        if not _same(stored, value):
            return False
    return True


def applied(
    doc: Mapping[str, Any] | None,
    change: Change,
    event_id: str,
    fields: Mapping[str, Any],
    settable: frozenset[str],
) -> bool:
    """Whether ``doc`` reflects our event: gone or ``deleted`` for a delete; otherwise our
    event is the one the document keeps, or every field we wrote reads back as written
    (``settable`` fields at the top level, the others as labels)."""
    if change is Change.DELETED:
        return doc is None or doc.get("deleted") is True
    if doc is None or doc.get("deleted") is True:
        return False
    if _mentions(doc, event_id):
        return True
    return bool(fields) and _fields_match(doc, fields, settable)


def reconciled_since(doc: Mapping[str, Any] | None, since: float) -> bool:
    """Whether the projector has applied a ``tasktrail.task.reconciled`` decided at or after
    ``since`` (epoch seconds) to ``doc``."""
    held = ((doc or {}).get("_records") or {}).get("reconciled") or {}
    at = held.get("at") if isinstance(held, Mapping) else None
    return isinstance(at, int | float) and at >= since
