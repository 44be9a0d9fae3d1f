"""The audit history: entries across tasks, one task's, and the export of every entry."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from tasktrail_api.domain import serializers
from tasktrail_api.domain.errors import NotFound
from tasktrail_api.domain.filters import EventFilters
from tasktrail_api.domain.history import START, LogPosition, event_queries, log_queries
from tasktrail_api.domain.matcher import entry_matches
from tasktrail_api.domain.plan import by_id, within
from tasktrail_api.domain.scope import Scope
from tasktrail_api.usecases.ports import ReadModels
from tasktrail_api.usecases.tasks import Page

NEWEST_FIRST, OLDEST_FIRST = -1, 1
ONLY_APP = {"_id": 1, "app": 1}


class Audit:
    def __init__(self, read_models: ReadModels) -> None:
        self._read_models = read_models

    async def events(self, filters: EventFilters, scope: Scope) -> Page:
        """History entries in ``scope``, of every task and of what concerns none, newest
        first."""
        message, entry = event_queries(filters, scope)
        return await self._page(message, entry, NEWEST_FIRST, filters)

    async def task_history(self, task_id: str, filters: EventFilters, scope: Scope) -> Page:
        """Everything recorded about one task, oldest first; kept after a delete. A task
        outside ``scope`` is NotFound."""
        known = None
        if not scope.is_everything:
            known = await self._read_models.tasks.one(by_id(task_id), ONLY_APP)
            if known is not None and not scope.allows(known.get("app")):
                raise NotFound.named("task")
        message, entry = event_queries(filters, scope, uuid=task_id)
        page = await self._page(message, entry, OLDEST_FIRST, filters)
        if page.count == 0 and known is None and not await self._exists(task_id, scope):
            raise NotFound.named("task")
        return page

    async def task_log(
        self, task_id: str, scope: Scope, after: LogPosition | None, limit: int
    ) -> tuple[list[dict[str, Any]], LogPosition]:
        """One task's entries in log order: the newest ``limit`` without ``after``, else the
        first ``limit`` recorded after it; and the position of the last one returned (of
        ``after`` when there is nothing new), from which the next call continues."""
        message, entry = log_queries(task_id, after)
        direction = NEWEST_FIRST if after is None else OLDEST_FIRST
        rows = await self._read_models.log_entries(within(message, scope), entry, direction, limit)
        if direction == NEWEST_FIRST:
            rows.reverse()
        if not rows and after is None:
            known = await self._read_models.tasks.one(within(by_id(task_id), scope), ONLY_APP)
            if known is None:
                raise NotFound.named("task")
        last = LogPosition.of(rows[-1]) if rows else (after or START)
        return [serializers.task_event(row, row["events"]) for row in rows], last

    async def _exists(self, task_id: str, scope: Scope) -> bool:
        """Whether a task of no recorded history exists (in a scope of everything: a narrower
        one has looked already)."""
        if not scope.is_everything:
            return False
        return await self._read_models.tasks.one(by_id(task_id), ONLY_APP) is not None

    async def _page(
        self, message: dict[str, Any], entry: dict[str, Any], order: int, filters: EventFilters
    ) -> Page:
        rows, count = await self._read_models.history(
            message, entry, order, filters.offset, filters.limit
        )
        return Page([serializers.task_event(row, row["events"]) for row in rows], count)

    async def export(
        self, filters: EventFilters, scope: Scope
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """Every matching entry in ``scope``, oldest first, a chunk at a time
        (``limit``/``offset`` ignored)."""
        message, entry = event_queries(filters, scope)
        async for chunk in self._read_models.export_events(message):
            shown = [
                serializers.task_event(doc, e)
                for doc in chunk
                for e in doc.get("events") or []
                if isinstance(e, dict) and entry_matches(e, entry)
            ]
            if shown:
                yield shown
