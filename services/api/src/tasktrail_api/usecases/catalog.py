"""The task catalog: its entries, what admins define about them, their secret keys, and runs.

Every entrypoint that starts a task from the catalog calls :meth:`Catalog.run` (seed 001's
routes with a token, seed 003's batch API) or :meth:`Catalog.run_with_key` (seed 001's
anonymous routes). A run is control's ``run`` command with the entry's time limit and the
labels that make the new task a run of the entry (``catalog_id``, ``origin``,
``started_by``); the command events record it, with its actor, in the log. A run's lifecycle
is then its task's, as Celery's events tell it.

Entries are the projector's ``catalog`` read model. Admins change them by publishing
``tasktrail.catalog.amended`` / ``.deleted`` and reading the entry back once projected, as
every write does. Secret keys are credentials, kept by the API (``CatalogKeys``) like
tokens; the log only says who issued one, and every refused key.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass
from typing import Any

from tasktrail_shared import own_events
from tasktrail_shared.catalog import (
    DEFINABLE,
    Origin,
    definition_fields,
    entry_id,
    profiles_shown,
)

from tasktrail_api.domain import catalog
from tasktrail_api.domain.errors import BadRequest, Conflict, Forbidden, NotFound
from tasktrail_api.domain.plan import TASK_PROJECTION, Doc, by_id
from tasktrail_api.domain.principals import DEFAULT_ORG, Principal, Role
from tasktrail_api.domain.scope import Scope
from tasktrail_api.domain.writes import Change, applied, payload
from tasktrail_api.usecases.commands import Commands
from tasktrail_api.usecases.orgs import Orgs
from tasktrail_api.usecases.polling import wait_for
from tasktrail_api.usecases.ports import (
    CatalogKeys,
    Clock,
    EventPublisher,
    Published,
    ReadModels,
)

log = logging.getLogger(__name__)

ANONYMOUS = "anonymous"
"""The actor of a run started with a secret key, and of a refused key."""
ENTRY_APPLIED = {**catalog.ENTRY_PROJECTION, "_records": 1, "_amend": 1}
PUBLISH_BATCH = 256
Profiled = dict[tuple[str, str], dict[str, list[Any]]]
"""Alert profiles by type, of each (cluster, task name) that has any."""


@dataclass(frozen=True, slots=True)
class Defined:
    """An admin's change: the entry as projected, or the event while it is not yet."""

    entry_id: str
    shown: dict[str, Any] | None
    accepted: Published | None = None


@dataclass(eq=False)
class Catalog:
    read_models: ReadModels
    keys: CatalogKeys
    publisher: EventPublisher
    commands: Commands
    orgs: Orgs
    clock: Clock
    _: KW_ONLY
    wait: float

    async def scope(self, customer: str, caller: Principal | None) -> Scope:
        """The clusters of organisation ``customer``, which ``caller`` (``None``: anonymous)
        must belong to unless root; NotFound otherwise, as for any object of another
        organisation."""
        directory = await self.orgs.directory()
        if customer not in directory.orgs:
            raise NotFound.named("organisation")
        if caller is not None and not caller.is_root and caller.org != customer:
            raise NotFound.named("organisation")
        return directory.scope(Principal(ANONYMOUS, Role.viewer, org=customer))

    # --- entries ----------------------------------------------------------------------------

    async def entries(self, scope: Scope, caller: Principal) -> list[dict[str, Any]]:
        """Every entry of the organisation the caller may use, by name."""
        query = {**catalog.live_entries(), **scope.condition()}
        docs = await self.read_models.catalog.rows(
            query, catalog.ENTRY_PROJECTION, catalog.MAX_ENTRIES
        )
        usable = [doc for doc in docs if catalog.may_use(doc, caller)]
        return [catalog.entry(doc, _org(scope)) for doc in sorted(usable, key=catalog.by_name)]

    async def profiles(self, tasks: Iterable[Mapping[str, Any]]) -> Profiled:
        """The alert profiles of the tasks' catalog entries, by ``(cluster, task name)``
        (entries without any left out). ``tasks`` are already within the caller's scope,
        and an entry belongs to its task's cluster."""
        wanted = {
            entry_id(str(t["app"]), str(t["name"])) for t in tasks if t.get("app") and t.get("name")
        }
        if not wanted:
            return {}
        query = {"_id": {"$in": sorted(wanted)}, **catalog.live_entries()}
        fields = {"app": 1, "name": 1, "profiles": 1}
        docs = await self.read_models.catalog.rows(query, fields, len(wanted))
        shown = {(str(d["app"]), str(d["name"])): profiles_shown(d.get("profiles")) for d in docs}
        return {key: value for key, value in shown.items() if value}

    async def get(self, scope: Scope, caller: Principal, ident: str) -> Doc:
        return catalog.entry(await self._usable(scope, caller, ident), _org(scope))

    async def _found(self, scope: Scope, ident: str) -> Doc:
        """The live entry ``ident`` of the scope; else NotFound."""
        doc = await self.read_models.catalog.one(by_id(ident), catalog.ENTRY_PROJECTION)
        if doc is None or doc.get("deleted") is True or not scope.allows(doc.get("app")):
            raise NotFound.named("task")
        return doc

    async def _usable(self, scope: Scope, caller: Principal, ident: str) -> Doc:
        """The live entry ``ident`` of the scope, if the caller may use it; else NotFound."""
        doc = await self._found(scope, ident)
        if not catalog.may_use(doc, caller):
            raise NotFound.named("task")
        return doc

    async def _administered(self, scope: Scope, caller: Principal, ident: str) -> Doc:
        _require_admin(caller)
        return await self._found(scope, ident)

    async def recipe(self, scope: Scope, caller: Principal, ident: str) -> dict[str, Any]:
        return catalog.recipe(await self._administered(scope, caller, ident))

    async def amend(
        self, scope: Scope, caller: Principal, ident: str, fields: Mapping[str, Any]
    ) -> Defined:
        """Define some fields of an entry (``null``: back to the default)."""
        doc = await self._administered(scope, caller, ident)
        return await self._define(scope, str(doc["app"]), str(doc["name"]), dict(fields), caller)

    async def import_recipe(
        self, scope: Scope, caller: Principal, recipe: catalog.RecipeImport
    ) -> Defined:
        """Define an entry from a recipe, creating it, or restoring it if it was deleted: in
        cluster ``recipe.app``, else the organisation's only cluster, else the API's own."""
        _require_admin(caller)
        app = await self.orgs.cluster_for(scope, recipe.app)
        fields = catalog.imported_fields(recipe.task)
        return await self._define(scope, app, recipe.task.name, fields, caller)

    async def _define(
        self, scope: Scope, app: str, name: str, fields: dict[str, Any], caller: Principal
    ) -> Defined:
        ident = entry_id(app, name)
        checked = _checked(fields)
        event = payload(
            own_events.CATALOG_AMENDED,
            at=self.clock.now().timestamp(),
            actor=caller.name,
            app=app,
            name=name,
            fields=checked,
        )
        published = await self.publisher.publish(own_events.CATALOG_AMENDED, event, app=app)
        doc, done = await wait_for(
            lambda: self.read_models.catalog.one(by_id(ident), ENTRY_APPLIED),
            lambda d: applied(d, Change.AMENDED, published.id, checked, frozenset(DEFINABLE)),
            self.clock,
            self.wait,
        )
        if not done or doc is None:
            return Defined(ident, None, published)
        return Defined(ident, catalog.entry(doc, _org(scope)))

    async def delete(self, scope: Scope, caller: Principal, ident: str) -> Published | None:
        """Hide the entry and drop its key; the event while it is not yet projected."""
        doc = await self._administered(scope, caller, ident)
        app = str(doc["app"])
        event = payload(
            own_events.CATALOG_DELETED,
            at=self.clock.now().timestamp(),
            actor=caller.name,
            app=app,
            name=str(doc["name"]),
        )
        published = await self.publisher.publish(own_events.CATALOG_DELETED, event, app=app)
        await self.keys.remove_key(ident)
        _, done = await wait_for(
            lambda: self.read_models.catalog.one(by_id(ident), {"deleted": 1}),
            lambda d: applied(d, Change.DELETED, published.id, {}, frozenset()),
            self.clock,
            self.wait,
        )
        return None if done else published

    # --- secret keys ------------------------------------------------------------------------

    async def credentials(self, scope: Scope, caller: Principal, ident: str) -> dict[str, Any]:
        """The entry's secret key, issued on first request."""
        doc = await self._administered(scope, caller, ident)
        key = await self.keys.get_key(ident)
        if key is None:
            key = await self._issue(doc, caller, replace=False)
        return {"id": ident, "name": doc.get("name"), "secret": key}

    async def rotate_key(self, scope: Scope, caller: Principal, ident: str) -> dict[str, Any]:
        """A new secret key; the old one stops working at once."""
        doc = await self._administered(scope, caller, ident)
        return {"id": ident, "name": doc.get("name"), "secret": await self._issue(doc, caller)}

    async def _issue(self, doc: Doc, caller: Principal, *, replace: bool = True) -> str:
        """Issue a key and say so in the log; a key whose audit event cannot be written still
        stands (a rotation must not leave the old key working)."""
        ident, app = str(doc["_id"]), str(doc["app"])
        now = self.clock.now()
        new = catalog.new_key()
        key = await self.keys.issue_key(ident, new, caller.name, now, replace=replace)
        if key == new:
            event = payload(
                own_events.CATALOG_KEY_ROTATED,
                at=now.timestamp(),
                actor=caller.name,
                app=app,
                name=str(doc["name"]),
            )
            try:
                await self.publisher.publish(own_events.CATALOG_KEY_ROTATED, event, app=app)
            except Exception as exc:
                log.warning("key of %s issued, but its audit event was not written: %s", ident, exc)
        return key

    # --- runs -------------------------------------------------------------------------------

    async def run(
        self,
        scope: Scope,
        caller: Principal,
        ident: str,
        arguments: list[Any],
        origin: Origin,
    ) -> dict[str, Any]:
        """Run the entry as ``caller`` (who must be allowed to, ``user`` role or above): its
        job. BadRequest if the arguments do not fit the entry, Conflict if it allows one run
        at a time and one is active."""
        if caller.role < Role.operator:
            raise Forbidden("running a task needs the user role")
        doc = await self._usable(scope, caller, ident)
        return await self._start(scope, doc, arguments, origin, caller)

    async def run_with_key(
        self, customer: str, ident: str, key: str, arguments: list[Any]
    ) -> dict[str, Any]:
        """Run the entry anonymously with its secret key: its job."""
        doc, scope = await self._opened(customer, ident, key)
        return await self._start(scope, doc, arguments, "secret", _KEY_HOLDER)

    async def _opened(self, customer: str, ident: str, key: str) -> tuple[Doc, Scope]:
        """The entry ``key`` opens in organisation ``customer``, and its scope. A wrong key,
        or an entry that is not the organisation's, is Forbidden and recorded in the log."""
        problem = catalog.key_problem(await self.keys.get_key(ident), key)
        if problem is None:
            try:
                scope = await self.scope(customer, None)
                return await self._found(scope, ident), scope
            except NotFound:
                problem = "no such task in this organisation"
        await self._refused(customer, ident, problem)
        raise Forbidden("invalid secret key")

    async def _refused(self, customer: str, ident: str, reason: str) -> None:
        event = payload(
            own_events.CATALOG_KEY_REFUSED,
            at=self.clock.now().timestamp(),
            actor=ANONYMOUS,
            org=customer[:255],
            entry=ident[:255],
            reason=reason,
        )
        await self.publisher.publish(own_events.CATALOG_KEY_REFUSED, event)

    async def _start(
        self, scope: Scope, doc: Doc, arguments: list[Any], origin: Origin, caller: Principal
    ) -> dict[str, Any]:
        ident = str(doc["_id"])
        values = catalog.run_arguments(doc.get("task_arguments"), arguments)
        if doc.get("multitasking") is False:
            active = await self.read_models.tasks.one(catalog.active_runs(ident), {"_id": 1})
            if active is not None:
                raise Conflict(
                    f"task {doc.get('name')} allows one run at a time, and job "
                    f"{active['_id']} is still running"
                )
        labels = catalog.run_labels(doc, origin, caller.name)
        args = {"name": doc["name"], "args": values, "time_limit": catalog.time_limit(doc),
                "labels": labels}  # fmt: skip
        reply = await self.commands.send_to(str(doc["app"]), "run", args, caller)
        task_id = str(reply.result)
        job, done = await wait_for(
            lambda: self.read_models.tasks.one(by_id(task_id), catalog.JOB_PROJECTION),
            lambda d: catalog.is_run_of(d, ident),
            self.clock,
            self.wait,
        )
        sent = catalog.sent_job(task_id, doc, values, labels)
        return catalog.job(catalog.as_known(job, sent) if done and job else sent, _org(scope))

    async def job(self, scope: Scope, caller: Principal, job_id: str) -> Doc:
        """A run of an entry the caller may use."""
        doc = await self.read_models.tasks.one(by_id(job_id), catalog.JOB_PROJECTION)
        if doc is None or not catalog.is_run_of(doc) or not scope.allows(doc.get("app")):
            raise NotFound.named("job")
        entry = await self.read_models.catalog.one(by_id(doc["labels"]["catalog_id"]), {"acl": 1})
        if caller.role < Role.admin and (entry is None or not catalog.may_use(entry, caller)):
            raise NotFound.named("job")
        return catalog.job(doc, _org(scope))

    async def clear_jobs(self, scope: Scope, caller: Principal, ident: str) -> int:
        """Remove the finished runs of the entry from every query (their history stays):
        how many."""
        app = str((await self._administered(scope, caller, ident))["app"])
        ids = await self.read_models.tasks.ids(catalog.finished_runs(ident), catalog.MAX_CLEARED)
        at = self.clock.now().timestamp()
        for start in range(0, len(ids), PUBLISH_BATCH):
            events = [
                payload(own_events.TASK_DELETED, at=at, actor=caller.name, uuid=task_id)
                for task_id in ids[start : start + PUBLISH_BATCH]
            ]
            await asyncio.gather(
                *(self.publisher.publish(own_events.TASK_DELETED, e, app=app) for e in events)
            )
        if ids:  # read your writes: the last one published is applied
            await wait_for(
                lambda: self.read_models.tasks.one(
                    by_id(ids[-1]), {**TASK_PROJECTION, "deleted": 1}
                ),
                lambda d: d is None or d.get("deleted") is True,
                self.clock,
                self.wait,
            )
        return len(ids)


_KEY_HOLDER = Principal(name=ANONYMOUS, role=Role.operator, org=None)
"""Whoever holds an entry's secret key: runs that entry, nothing else (the key opened the
one entry it belongs to, so its ACL is not asked)."""


def _require_admin(caller: Principal) -> None:
    if caller.role < Role.admin:
        raise Forbidden("this needs the admin role")


def _org(scope: Scope) -> str:
    """The organisation a scope is of, as answers name it (``customer_name``)."""
    return scope.org or DEFAULT_ORG


def _checked(fields: dict[str, Any]) -> dict[str, Any]:
    try:
        return definition_fields(fields)
    except ValueError as exc:
        raise BadRequest(f"task: {exc}") from exc
