"""Task counts and run times over time, from the projector's per-minute buckets."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tasktrail_api.domain import serializers
from tasktrail_api.domain.errors import BadRequest
from tasktrail_api.domain.plan import within
from tasktrail_api.domain.scope import Scope
from tasktrail_api.domain.stats import (
    NameMetrics,
    StatsFilters,
    bucket_query,
    name_metrics,
    series,
)
from tasktrail_api.usecases.ports import Clock, ReadModels


class Stats:
    def __init__(self, read_models: ReadModels, clock: Clock) -> None:
        self._read_models = read_models
        self._clock = clock

    async def series(self, filters: StatsFilters, scope: Scope) -> dict[str, Any]:
        """Counts per state and run-time statistics per step of the range, the clusters of
        ``scope`` summed."""
        after, before, buckets = await self._buckets(filters, scope)
        steps = series(buckets, filters, after, before)
        return {
            "after": serializers.plain(after),
            "before": serializers.plain(before),
            "step": filters.step,
            "steps": serializers.plain(steps),
        }

    async def by_name(self, filters: StatsFilters, scope: Scope) -> list[NameMetrics]:
        """Each task name's counts, success rate and run-time percentiles over the range, the
        clusters of ``scope`` summed (the range is aligned to ``filters.step``)."""
        _, _, buckets = await self._buckets(filters, scope)
        return name_metrics(buckets)

    async def _buckets(
        self, filters: StatsFilters, scope: Scope
    ) -> tuple[datetime, datetime, list[dict[str, Any]]]:
        try:
            after, before = filters.span(self._clock.now())
        except ValueError as exc:
            raise BadRequest(str(exc)) from exc
        buckets = await self._read_models.stats(within(bucket_query(filters, after, before), scope))
        return after, before, buckets
