"""Tasks: the list and one task as projected, reconciling from the result backend (``sync``)
and sending a task again (``retry``)."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from datetime import datetime
from typing import Any

from tasktrail_shared.fields import SEED_LABELS

from tasktrail_api.domain import serializers
from tasktrail_api.domain.commands import retry_arguments
from tasktrail_api.domain.cursor import BadCursor, Cursor, cursor_after, decode_cursor
from tasktrail_api.domain.errors import BadRequest, Forbidden, NotFound
from tasktrail_api.domain.filters import TaskFilters
from tasktrail_api.domain.orgs import route
from tasktrail_api.domain.plan import (
    MIN_TIME,
    SET_PROJECTION,
    TASK_PROJECTION,
    Doc,
    ReadPlan,
    among,
    by_id,
    by_ids,
    finish_set,
    rest,
    task_page,
    tasks_on_workers,
    unfinished_tasks,
)
from tasktrail_api.domain.principals import Principal, Role
from tasktrail_api.domain.scope import Scope
from tasktrail_api.domain.shapes import LABEL_FIELD, SET_CAP, equalities, refused
from tasktrail_api.domain.totals import parse_totals
from tasktrail_api.domain.writes import reconciled_since
from tasktrail_api.usecases.commands import Commands, sub_key
from tasktrail_api.usecases.polling import wait_for
from tasktrail_api.usecases.ports import Clock, ReadModels
from tasktrail_api.usecases.writes import TASK, live

RECONCILED_PROJECTION = {**TASK_PROJECTION, "_records": 1, "deleted": 1}
Rows = list[dict[str, Any]]
MAX_ON_WORKERS = 10_000
"""Tasks one read of the tasks on some workers returns at most."""
BY_ID = [("_id", 1)]


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list, as shown, with the total of the list (a lower bound when not
    ``count_is_exact``)."""

    items: list[dict[str, Any]]
    count: int
    next_cursor: str | None = None
    count_is_exact: bool = True


@dataclass(eq=False)
class Tasks:
    read_models: ReadModels
    commands: Commands
    clock: Clock
    _: KW_ONLY
    wait: float
    sync_chunk: int
    sync_max: int
    count_bound: int

    async def list(self, filters: TaskFilters, labels: Mapping[str, str], scope: Scope) -> Page:
        """Tasks in ``scope`` matching every filter, a page by ``offset`` or after ``cursor``
        (see ``domain.plan``); the total from the counters when they cover the filters, else
        counted up to the bound."""
        if filters.cursor is not None and filters.offset:
            raise BadRequest.field("cursor", "give either cursor or offset, not both")
        try:
            cursor = decode_cursor(filters.cursor, filters.sort) if filters.cursor else None
        except BadCursor as exc:
            raise BadRequest.field("cursor", str(exc)) from exc
        labelled = any(f.startswith(LABEL_FIELD) for f, _ in equalities(filters, labels))
        totals = parse_totals(await self.read_models.totals(labels=labelled))
        apps = sorted(app for app in totals if scope.allows(app))
        indexed: tuple[str, ...] = SEED_LABELS
        if set(labels) - set(SEED_LABELS):  # the seed's are always indexed
            indexed = (*SEED_LABELS, *await self.read_models.indexed_labels())
        now = self.clock.now()
        plan = task_page(filters, labels, cursor, now, apps, totals, indexed, self.count_bound)
        if plan.cap is not None:
            docs, count, exact = await self._set_page(plan, cursor)
        else:
            docs, count, exact = await self._walk_page(plan, cursor is None)
        next_cursor = None
        if len(docs) == filters.limit:
            next_cursor = cursor_after(docs[-1], filters.sort.removeprefix("-"), filters.sort)
        return Page([serializers.task(doc) for doc in docs], count, next_cursor, exact)

    async def filterable_labels(self) -> builtins.list[str]:
        """The labels a list can filter on: those with an index (the seed's always)."""
        return sorted({*SEED_LABELS, *await self.read_models.indexed_labels()})

    async def _walk_page(self, plan: ReadPlan, first: bool) -> tuple[Rows, int, bool]:
        need, bound = plan.skip + plan.limit, self.count_bound
        rows = await self.read_models.tasks.read(plan.steps, need, plan.projection)
        if plan.total is not None:
            return rows[plan.skip :], plan.total, True
        if first and len(rows) < need:  # the whole list is on this page
            return rows[plan.skip :], len(rows), True
        if first and plan.rest is not None:  # the rows read are the list's first: count on
            found = len(rows)
            if found <= bound:
                steps = rest(plan.rest, rows, bound + 1 - found, self.clock.now())
                found += await self.read_models.tasks.count(steps, bound - found)
        else:
            found = await self.read_models.tasks.count(plan.count, bound)
        return rows[plan.skip :], min(found, bound), found <= bound

    async def _set_page(self, plan: ReadPlan, cursor: Cursor | None) -> tuple[Rows, int, bool]:
        assert plan.cap is not None and plan.selection is not None
        rows = await self.read_models.tasks.read(plan.steps, plan.cap + 1, SET_PROJECTION)
        if len(rows) > plan.cap:
            raise refused(f"more than {SET_CAP} tasks to sort; narrow the time range")
        docs, count = finish_set(rows, plan.selection, cursor, plan.limit, plan.skip)
        return docs, count, True

    async def among(
        self,
        task_ids: Sequence[str],
        filters: TaskFilters,
        labels: Mapping[str, str],
        scope: Scope,
    ) -> builtins.list[dict[str, Any]]:
        """Those of ``task_ids`` that match the list's filters, in its order: what a live
        list shows of the tasks that just changed."""
        if not task_ids:
            return []
        plan = by_ids(task_ids, SET_PROJECTION, [("_id", 1)], scope)
        rows = await self.read_models.tasks.read(plan.steps, plan.limit, plan.projection)
        return [serializers.task(doc) for doc in among(rows, filters, labels, scope)]

    async def get(self, task_id: str, scope: Scope) -> dict[str, Any]:
        return serializers.task(
            await live(self.read_models.tasks, TASK, task_id, TASK_PROJECTION, scope)
        )

    async def selected(self, ids: Sequence[str], scope: Scope) -> builtins.list[dict[str, Any]]:
        """The tasks ``ids`` name, in that order; NotFound naming those that do not exist or
        are outside ``scope`` (the same thing, to the caller)."""
        plan = by_ids(ids, TASK_PROJECTION, BY_ID, scope)
        docs = await self.read_models.tasks.read(plan.steps, plan.limit, plan.projection)
        found = {str(doc["_id"]): doc for doc in docs}
        missing = [task_id for task_id in ids if task_id not in found]
        if missing:
            raise NotFound(f"task not found: {', '.join(missing[:10])}")
        return [serializers.task(found[task_id]) for task_id in ids]

    async def on_workers(
        self, hosts: Iterable[str], scope: Scope, *, active_only: bool
    ) -> builtins.list[dict[str, Any]]:
        """The tasks sitting on these workers, oldest first; ``active_only``: not the lost."""
        hosts = list(hosts)
        if not hosts:
            return []
        query = tasks_on_workers(hosts, scope, active_only=active_only)
        docs = await self.read_models.tasks.rows(query, TASK_PROJECTION, MAX_ON_WORKERS)
        docs.sort(key=_age)
        return [serializers.task(doc) for doc in docs]

    async def get_synced(
        self, task_id: str, caller: Principal, key: str | None, scope: Scope
    ) -> dict[str, Any]:
        """The task after control has looked it up in the result backend and the projector
        has applied what it found (if anything, within the write wait)."""
        if caller.role < Role.operator:
            raise Forbidden("?sync needs the operator role")
        held = await self.read_models.tasks.one(by_id(task_id), {"app": 1})
        found = {} if held is None else {task_id: held.get("app")}
        [(app, _)] = route(found, [task_id], scope, self.commands.default_app, "task").items()
        since = self.clock.now().timestamp() - 1.0
        reply = await self.commands.send_to(app, "sync", {"ids": [task_id]}, caller, key)
        if isinstance(reply.result, int) and reply.result > 0:
            await wait_for(
                lambda: self.read_models.tasks.one(by_id(task_id), RECONCILED_PROJECTION),
                lambda doc: reconciled_since(doc, since),
                self.clock,
                self.wait,
            )
        return await self.get(task_id, scope)

    async def sync_all(self, caller: Principal, key: str | None, scope: Scope) -> int:
        """Send every unfinished task in ``scope`` to its cluster's control (``sync``), in
        chunks; how many control reconciled."""
        rows = await self.read_models.tasks.rows(unfinished_tasks(scope), {"app": 1}, self.sync_max)
        default = self.commands.default_app
        by_app: dict[str, list[str]] = {}
        for row in rows:
            by_app.setdefault(str(row.get("app") or default), []).append(str(row["_id"]))
        chunks = [
            (app, ids[start : start + self.sync_chunk])
            for app, ids in sorted(by_app.items())
            for start in range(0, len(ids), self.sync_chunk)
        ]
        done = 0
        for part, (app, chunk) in enumerate(chunks):
            args = {"ids": chunk}
            reply = await self.commands.send_to(app, "sync", args, caller, sub_key(key, part))
            done += reply.result if isinstance(reply.result, int) else 0
        return done

    async def retry(self, task_id: str, caller: Principal, key: str | None, scope: Scope) -> str:
        """Send the task again with its original arguments, to its cluster; the new task's id."""
        doc = await live(self.read_models.tasks, TASK, task_id, TASK_PROJECTION, scope)
        args = retry_arguments(task_id, doc).model_dump(mode="json")
        app = doc.get("app") or self.commands.default_app
        reply = await self.commands.send_to(app, "retry", args, caller, key)
        return str(reply.result)


def _age(doc: Doc) -> tuple[datetime, str]:
    """Oldest first (by when the task last changed), then by id."""
    at = doc.get("timestamp")
    return (at if isinstance(at, datetime) else MIN_TIME, str(doc["_id"]))
