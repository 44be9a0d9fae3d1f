"""The dashboard: live tasks per state, from the projector's counters (a few documents, so
no snapshot is needed), and workers online and offline."""

from __future__ import annotations

from typing import Any

from tasktrail_api.domain import serializers
from tasktrail_api.domain.scope import Scope
from tasktrail_api.domain.totals import parse_totals, state_counts
from tasktrail_api.usecases.ports import Clock, ReadModels


class Dashboard:
    def __init__(self, read_models: ReadModels, clock: Clock) -> None:
        self._read_models = read_models
        self._clock = clock

    async def get(self, scope: Scope) -> dict[str, Any]:
        """Workers online/offline and tasks per state in ``scope``."""
        totals = parse_totals(await self._read_models.totals())
        by_state = state_counts(totals, [app for app in totals if scope.allows(app)])
        workers = await self._read_models.worker_groups(self._clock.now(), scope)
        return serializers.dashboard(
            [{"_id": state, "n": n} for state, n in by_state.items()], workers
        )
