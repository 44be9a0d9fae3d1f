"""What each kind of live page follows, and the events a change means for it (see
``ui.live``): rows rendered with the same templates as the full page."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from tasktrail_api.bootstrap import UseCases
from tasktrail_api.domain.filters import TaskFilters, WorkerFilters
from tasktrail_api.domain.scope import Scope
from tasktrail_api.ui.live import Changed, Event
from tasktrail_api.ui.render import fragment

MAX_LEFT = 200
"""Ids of tasks that left a list's filters one push names at most."""
MAX_LOOKED_UP = 200
"""Changed tasks a tick looks up by id at most; past that it reads the list's first page (the
query of a page load) and keeps the changed rows of it, which costs the same however many
tasks changed."""


@dataclass(frozen=True, slots=True)
class TaskList:
    """A filtered task list: changed tasks that match come back as rows (morphed in place,
    or counted as new), those that no longer match are named."""

    use_cases: UseCases
    filters: TaskFilters
    labels: Mapping[str, str]
    query: str
    can_act: bool
    scope: Scope

    @property
    def key(self) -> Hashable:
        return ("tasks", self.query, self.can_act, self.scope)

    async def render(self, changed: Changed) -> list[Event]:
        if changed.many:
            return [("many", "many")]
        if not changed.tasks:
            return []
        if len(changed.tasks) > MAX_LOOKED_UP:
            first = await self.use_cases.tasks.list(self.filters, self.labels, self.scope)
            rows = [row for row in first.items if row["id"] in changed.tasks]
        else:
            rows = await self.use_cases.tasks.among(
                sorted(changed.tasks), self.filters, self.labels, self.scope
            )
        events: list[Event] = []
        left = sorted(changed.tasks - {row["id"] for row in rows})[:MAX_LEFT]
        shown = rows[: self.filters.limit] if self._first_page else rows
        if shown:
            html = fragment("_task_rows.html", tasks=shown, can_act=self.can_act)
            events.append(("rows", html))
        if left and len(changed.tasks) <= MAX_LOOKED_UP:
            events.append(("left", " ".join(left)))
        return events

    @property
    def _first_page(self) -> bool:
        """On a first page, changed rows past a page of them rank below a whole page of
        changed rows: no reload would show them, so no push carries them."""
        return self.filters.cursor is None and not self.filters.offset


@dataclass(frozen=True, slots=True)
class OneTask:
    """A task page: told when the task or another of its workflow changed."""

    task_id: str
    watched: frozenset[str]

    @property
    def key(self) -> Hashable:
        return ("task", self.task_id, self.watched)

    async def render(self, changed: Changed) -> list[Event]:
        if changed.many or changed.tasks & self.watched:
            return [("task", self.task_id)]
        return []


@dataclass(frozen=True, slots=True)
class WorkerList:
    """The workers page and a worker's page: changed rows, and every row as time passes
    (a worker goes offline by silence)."""

    use_cases: UseCases
    scope: Scope

    @property
    def key(self) -> Hashable:
        return ("workers", self.scope)

    async def render(self, changed: Changed) -> list[Event]:
        if changed.clock or changed.many:
            listed = await self.use_cases.workers.list(WorkerFilters(limit=1000), self.scope)
            rows = listed.items
        elif changed.workers:
            rows = await self.use_cases.workers.many(sorted(changed.workers), self.scope)
        else:
            return []
        if not rows:
            return []
        return [("workers", fragment("_worker_rows.html", workers=rows))]


@dataclass(frozen=True, slots=True)
class Overview:
    """The overview: told that counts moved; it fetches its (cached) counts itself."""

    @property
    def key(self) -> Hashable:
        return ("overview",)

    async def render(self, changed: Changed) -> list[Event]:
        return [("overview", "changed")]
