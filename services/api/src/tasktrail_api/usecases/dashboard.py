"""The dashboard, served from a snapshot that is refreshed in the background.

Counting tasks by state touches every task document; on a large history that takes far
longer than a dashboard may (p99 <= 20 ms). So requests read the latest snapshot and, when it
is older than ``max_age``, start one refresh (never more than one at a time) that the next
requests see. Only the first request, or one whose snapshot is too stale to show
(``max_stale``), waits for a fresh count. ``max_age <= 0`` counts on every request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from tasktrail_api.domain import serializers
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

    async def close(self) -> None:
        """Wait for a running refresh (its reads must not be cancelled)."""
        if self._refresh is not None:
            await asyncio.wait([self._refresh])


def dashboard(read_models: ReadModels, clock: Clock, *, max_age: float) -> DashboardCache:
    """Workers online/offline and tasks per state, counted from the read models."""

    async def compute() -> dict[str, Any]:
        task_rows, worker_rows = await read_models.dashboard_rows(clock.now())
        return serializers.dashboard(task_rows, worker_rows)

    return DashboardCache(compute, max_age=max_age, clock=clock.monotonic)
