"""Hand-made writes of tasks and workers: publish the event, then wait until the projector
has applied it. Written once for both kinds and all three changes.

The answer is the document as projected (read your writes) or, when the projector has not
applied the event within ``wait`` seconds, the published event: it is in the log and will be
applied (a 202 over HTTP).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from tasktrail_shared.fields import TASK_SETTABLE, WORKER_SETTABLE

from tasktrail_api.domain import serializers
from tasktrail_api.domain.errors import Conflict, NotFound
from tasktrail_api.domain.plan import (
    DELETED_FLAG,
    TASK_PROJECTION,
    WORKER_PROJECTION,
    Doc,
    Query,
    by_id,
    worker_by_id,
)
from tasktrail_api.domain.principals import Principal
from tasktrail_api.domain.scope import Scope
from tasktrail_api.domain.writes import APPLIED_PROJECTION, Change, applied, payload
from tasktrail_api.usecases.polling import wait_for
from tasktrail_api.usecases.ports import Clock, Documents, EventPublisher, Published, ReadModels

if TYPE_CHECKING:  # Orgs answers its own writes with Written
    from tasktrail_api.usecases.orgs import Orgs


@dataclass(frozen=True, slots=True)
class Kind:
    """What a hand-made write is about: a task or a worker."""

    noun: str
    key: str
    """The payload field naming the document: ``uuid`` or ``hostname`` (its ``_id``)."""
    settable: frozenset[str]
    projection: Query
    """The fields the answer shows."""
    lookup: Callable[[str], Query]
    """How an id in a path finds the document."""
    documents: Callable[[ReadModels], Documents]
    view: Callable[[Doc, datetime], dict[str, Any]]

    def event_type(self, change: Change) -> str:
        """``tasktrail.task.recorded`` and the like (``tasktrail_shared.own_events``)."""
        return f"tasktrail.{self.noun}.{change.value}"


def _show_task(doc: Doc, now: datetime) -> dict[str, Any]:
    return serializers.task(doc)


TASK = Kind("task", "uuid", TASK_SETTABLE, TASK_PROJECTION, by_id, lambda r: r.tasks, _show_task)
WORKER = Kind(
    "worker", "hostname", WORKER_SETTABLE, WORKER_PROJECTION, worker_by_id, lambda r: r.workers,
    serializers.worker,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Written:
    accepted: Published | None
    """Set when the projector had not applied the event within the wait."""
    shown: dict[str, Any] | None
    """The document as projected and shown; ``None`` after a delete."""


SCOPED = {**DELETED_FLAG, "app": 1}
"""What :func:`live` needs of every document: whether it is deleted, and its cluster."""


async def live(
    documents: Documents, kind: Kind, ident: str, projection: Query, scope: Scope
) -> Doc:
    """The document ``ident`` names, unless it is missing, deleted or outside ``scope``
    (then NotFound: another organisation's document answers as a missing one)."""
    doc = await documents.one(kind.lookup(ident), {**projection, **SCOPED})
    if doc is None or doc.get("deleted") is True or not scope.allows(doc.get("app")):
        raise NotFound.named(kind.noun)
    return doc


@dataclass(frozen=True, slots=True)
class Target:
    """What a write is about: the document's id and cluster, and who asks."""

    key: str
    app: str
    caller: Principal


@dataclass(eq=False)
class Writes:
    read_models: ReadModels
    publisher: EventPublisher
    clock: Clock
    orgs: Orgs
    _: KW_ONLY
    wait: float

    async def record(
        self,
        kind: Kind,
        key: str | None,
        fields: Mapping[str, Any],
        caller: Principal,
        scope: Scope,
        app: str | None = None,
    ) -> Written:
        """A new task or worker in cluster ``app`` (default: the caller's, see
        ``Orgs.cluster_for``), or one deleted before, which this restores; Conflict if one
        by that id exists (NotFound if it is outside ``scope``). A task recorded without an
        id gets a new uuid."""
        key = key or str(uuid.uuid4())
        cluster = await self.orgs.cluster_for(scope, app)
        held = await kind.documents(self.read_models).one(by_id(key), SCOPED)
        if held is not None and not scope.allows(held.get("app")):
            raise NotFound.named(kind.noun)
        if held is not None and held.get("deleted") is not True:
            raise Conflict(f"{kind.noun} {key} exists; PATCH it instead")
        return await self._publish(kind, Change.RECORDED, Target(key, cluster, caller), fields)

    async def amend(
        self,
        kind: Kind,
        ident: str,
        fields: Mapping[str, Any],
        caller: Principal,
        scope: Scope,
    ) -> Written:
        doc = await live(kind.documents(self.read_models), kind, ident, DELETED_FLAG, scope)
        return await self._publish(kind, Change.AMENDED, self._target(doc, caller), fields)

    async def delete(self, kind: Kind, ident: str, caller: Principal, scope: Scope) -> Written:
        doc = await live(kind.documents(self.read_models), kind, ident, DELETED_FLAG, scope)
        return await self._publish(kind, Change.DELETED, self._target(doc, caller), None)

    def _target(self, doc: Doc, caller: Principal) -> Target:
        """A change to ``doc`` is an event of its own cluster."""
        return Target(str(doc["_id"]), str(doc.get("app") or self.orgs.default_app), caller)

    async def _publish(
        self, kind: Kind, change: Change, target: Target, fields: Mapping[str, Any] | None
    ) -> Written:
        key, event_type = target.key, kind.event_type(change)
        given = {} if fields is None else {"fields": dict(fields)}
        at = self.clock.now().timestamp()
        event = payload(event_type, at=at, actor=target.caller.name, **{kind.key: key}, **given)
        published = await self.publisher.publish(event_type, event, target.app)
        shown = {**kind.projection, **APPLIED_PROJECTION} if fields is not None else DELETED_FLAG
        documents = kind.documents(self.read_models)
        doc, done = await wait_for(
            lambda: documents.one(by_id(key), shown),
            lambda d: applied(d, change, published.id, fields or {}, kind.settable),
            self.clock,
            self.wait,
        )
        if not done:
            return Written(accepted=published, shown=None)
        if change is Change.DELETED or doc is None:
            return Written(accepted=None, shown=None)
        return Written(accepted=None, shown=kind.view(doc, self.clock.now()))
