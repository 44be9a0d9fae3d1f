"""The dashboard, served from a snapshot that is refreshed in the background.

Counting tasks by state touches every task document; on a large history that takes far
longer than a dashboard may (p99 <= 20 ms). So requests read the latest snapshot and, when it
is older than ``max_age``, start one refresh (never more than one at a time) that the next
requests see. Only the first request, or one whose snapshot is too stale to show
(``max_stale``), waits for a fresh count. ``max_age <= 0`` counts on every request.

Each scope counts what it sees, so each has a snapshot of its own (:class:`Dashboards`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from tasktrail_api.domain import serializers
from tasktrail_api.domain.scope import Scope
from tasktrail_api.usecases.ports import Clock, ReadModels

log = logging.getLogger(__name__)

Compute = Callable[[], Awaitable[dict[str, Any]]]


class DashboardCache:
    def __init__(
        self,
        compute: Compute,
        *,
        max_age: float,
        max_stale: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._compute = compute
        self._max_age = max_age
        self._max_stale = max(max_stale, max_age)
        self._clock = clock
        self._value: dict[str, Any] | None = None
        self._at = 0.0
        self._refresh: asyncio.Task[dict[str, Any]] | None = None

    async def get(self) -> dict[str, Any]:
        if self._max_age <= 0:
            return await self._compute()
        age = self._clock() - self._at
        if self._value is None or age > self._max_stale:
            return await asyncio.shield(self._start())
        if age > self._max_age:
            self._start()
        return self._value

    def _start(self) -> asyncio.Task[dict[str, Any]]:
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.ensure_future(self._run())
            self._refresh.add_done_callback(lambda t: t.cancelled() or t.exception())
        return self._refresh

    async def _run(self) -> dict[str, Any]:
        started = self._clock()
        try:
            value = await self._compute()
        except Exception:
            log.warning("dashboard refresh failed", exc_info=True)
            raise
        self._value, self._at = value, started
        return value

    @property
    def busy(self) -> bool:
        """Whether a refresh is running."""
        return self._refresh is not None and not self._refresh.done()

    async def close(self) -> None:
        """Wait for a running refresh (its reads must not be cancelled)."""
        if self._refresh is not None:
            await asyncio.wait([self._refresh])


class Dashboards:
    """One snapshot per scope, the least recently used dropped past ``max_scopes``."""

    def __init__(
        self, read_models: ReadModels, clock: Clock, *, max_age: float, max_scopes: int = 256
    ) -> None:
        self._read_models = read_models
        self._clock = clock
        self._max_age = max_age
        self._max_scopes = max_scopes
        self._caches: OrderedDict[Scope, DashboardCache] = OrderedDict()
        self._dropped: list[DashboardCache] = []

    async def get(self, scope: Scope) -> dict[str, Any]:
        """Workers online/offline and tasks per state in ``scope``."""
        cache = self._caches.get(scope)
        if cache is None:
            cache = self._caches[scope] = self._new(scope)
            while len(self._caches) > self._max_scopes:
                self._dropped.append(self._caches.popitem(last=False)[1])
            self._dropped = [old for old in self._dropped if old.busy]
        self._caches.move_to_end(scope)
        return await cache.get()

    def _new(self, scope: Scope) -> DashboardCache:
        read_models, clock = self._read_models, self._clock

        async def compute() -> dict[str, Any]:
            task_rows, worker_rows = await read_models.dashboard_rows(clock.now(), scope)
            return serializers.dashboard(task_rows, worker_rows)

        return DashboardCache(compute, max_age=self._max_age, clock=clock.monotonic)

    async def close(self) -> None:
        """Wait for every running refresh (their reads must not be cancelled)."""
        for cache in [*self._caches.values(), *self._dropped]:
            await cache.close()
