"""Payloads of the events tasktrail itself writes about tasks, workers, tokens,
organisations and the task catalog: records.

``tasktrail.task.{recorded,amended,deleted,reconciled}``, ``tasktrail.worker.*``,
``tasktrail.token.*``, ``tasktrail.org.*`` and ``tasktrail.catalog.*`` (the command events,
``tasktrail.command.*``, are in ``commands``).
The API never writes read models: ``POST``/``PATCH``/``DELETE`` publish one of these events
to the log and wait for the projector to apply it. Control publishes reconciliation and
inspection events. Every payload carries ``at`` (epoch seconds when it was decided), which
orders events of the same kind so that projection stays a pure function of the set. Which
``fields`` a task or worker record may carry is ``tasktrail_shared.fields``.

Subjects follow the stream's rule: ``tasktrail.events.<app>.<type>``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, StrictFloat, StringConstraints

from tasktrail_shared.catalog import MAX_NAME, definition_fields
from tasktrail_shared.fields import (
    TASK_SETTABLE,
    TASK_TIME_FIELDS,
    WORKER_SETTABLE,
    check_storable,
    is_label_value,
    is_task_field,
)
from tasktrail_shared.models import ClosedModel
from tasktrail_shared.settings import APP_NAME
from tasktrail_shared.states import parse_state
from tasktrail_shared.times import is_epoch, parse_iso

TASK_RECORDED = "tasktrail.task.recorded"
"""A task created by hand (``POST /monitor/tasks``), or a run control started with labels
(the catalog's runs): fields as given."""
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
CATALOG_AMENDED = "tasktrail.catalog.amended"
"""An admin defined fields of a catalog entry (``tasktrail_shared.catalog.Definition``):
latest amendment per field wins, ``null`` returns a field to its default; it also brings
back an entry deleted before it (a recipe import)."""
CATALOG_DELETED = "tasktrail.catalog.deleted"
"""The entry is hidden from the catalog until a later amendment (an import) restores it."""
CATALOG_KEY_ROTATED = "tasktrail.catalog.key_rotated"
"""A new secret key was issued for the entry (the old one, if any, stopped working); the
key never travels. Audit only."""
CATALOG_KEY_REFUSED = "tasktrail.catalog.key_refused"
"""Someone tried to run a task with a wrong secret key. Audit only."""
ORG_CREATED = "tasktrail.org.created"
"""An organisation was created (by a root token or the CLI): its slug and name."""
ORG_CLUSTER_ASSIGNED = "tasktrail.org.cluster_assigned"
"""A cluster (``app``) was given to an organisation, taken from any other: of the
assignments of one cluster, the latest by ``(at, event id)`` holds."""

DEFAULT_ORG = "default"
"""The organisation of a single-team install: it owns every cluster no other organisation
was given, and the tokens made before organisations existed (their events carry no ``org``)."""
ORG_SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"
"""An organisation's slug: lower-case letters, digits, ``-`` and ``_``, up to 63."""

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
        CATALOG_AMENDED,
        CATALOG_DELETED,
        CATALOG_KEY_ROTATED,
        CATALOG_KEY_REFUSED,
        ORG_CREATED,
        ORG_CLUSTER_ASSIGNED,
    }
)


def _decided(at: float) -> float:
    if not is_epoch(at):
        raise ValueError(f"{at!r} is not a valid time (epoch seconds, years 1970 to 9999)")
    return at


def _check_task_value(name: str, value: Any) -> None:
    if value is None:  # an amendment's null clears the field or removes the label
        return
    if name in TASK_TIME_FIELDS:
        if not isinstance(value, str):
            raise ValueError(f"must be an ISO 8601 string, not {type(value).__name__}")
        parse_iso(value)
    elif name == "state":
        parse_state(value)
    elif name not in TASK_SETTABLE and not is_label_value(value):
        raise ValueError("a label is text, true/false, a 64-bit integer or a finite number")
    check_storable(value)


def _task_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Every name a settable field or a label; times ISO 8601, states known, values storable."""
    for name, value in fields.items():
        if not is_task_field(name):
            raise ValueError(f"field {name[:64]!r} cannot be set on a task")
        try:
            _check_task_value(name, value)
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    return fields


def _worker_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Only :data:`WORKER_SETTABLE` names; ``status`` true, false or null; values storable."""
    unknown = sorted(set(fields) - WORKER_SETTABLE)
    if unknown:
        allowed = ", ".join(sorted(WORKER_SETTABLE))
        raise ValueError(f"field {unknown[0][:64]!r} cannot be set on a worker (only {allowed})")
    status = fields.get("status")
    if status is not None and not isinstance(status, bool):
        raise ValueError(f"worker status must be true or false, not {status!r}")
    return check_storable(fields)  # type: ignore[no-any-return]


TaskFields = Annotated[dict[str, Any], AfterValidator(_task_fields)]
WorkerFields = Annotated[dict[str, Any], AfterValidator(_worker_fields)]


class _Record(ClosedModel):
    at: Annotated[StrictFloat, AfterValidator(_decided)] = Field(
        description="epoch seconds when this was decided"
    )
    actor: str


class TaskRecorded(_Record):
    uuid: str
    fields: TaskFields = Field(
        description="Settable fields (tasktrail_shared.fields.TASK_SETTABLE) and labels (any "
        "other name is_label_name accepts); times as ISO 8601 strings"
    )


class TaskAmended(_Record):
    uuid: str
    fields: TaskFields = Field(description="As TaskRecorded's; null clears a field or a label")


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
    fields: WorkerFields = Field(default_factory=dict)


class WorkerAmended(_Record):
    hostname: str
    fields: WorkerFields


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


Slug = Annotated[str, StringConstraints(pattern=ORG_SLUG)]
Cluster = Annotated[str, StringConstraints(pattern=APP_NAME.pattern)]
TokenOrg = Slug | None
"""The token's organisation; ``null``: a root token; absent (events written before
organisations): the default organisation."""


class TokenCreated(_Record):
    name: str
    role: str
    org: TokenOrg = DEFAULT_ORG


class TokenRevoked(_Record):
    name: str
    org: TokenOrg = DEFAULT_ORG


class OrgCreated(_Record):
    slug: Slug
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ClusterAssigned(_Record):
    app: Cluster
    org: Slug


EntryName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)]


class _CatalogRecord(_Record):
    """About the entry of task ``name`` in cluster ``app`` (its id derives from the two)."""

    app: EntryName
    name: EntryName


class CatalogAmended(_CatalogRecord):
    fields: Annotated[dict[str, Any], AfterValidator(definition_fields)] = Field(
        description="Some of tasktrail_shared.catalog.Definition's fields; null: the default"
    )


class CatalogDeleted(_CatalogRecord):
    pass


class CatalogKeyRotated(_CatalogRecord):
    pass


class CatalogKeyRefused(_Record):
    org: Annotated[str, StringConstraints(max_length=255)] = Field(
        description="The organisation the caller named (it may name none)"
    )
    entry: Annotated[str, StringConstraints(max_length=255)] = Field(
        description="The entry id the caller gave (it may name no entry)"
    )
    reason: str


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
    CATALOG_AMENDED: CatalogAmended,
    CATALOG_DELETED: CatalogDeleted,
    CATALOG_KEY_ROTATED: CatalogKeyRotated,
    CATALOG_KEY_REFUSED: CatalogKeyRefused,
    ORG_CREATED: OrgCreated,
    ORG_CLUSTER_ASSIGNED: ClusterAssigned,
}
