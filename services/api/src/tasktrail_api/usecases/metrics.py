"""``/metrics``: the Prometheus exposition of the clusters in a scope, from the read models
(the projector's counters, workers, queue depths), so every API replica answers the same and
nothing is lost when a process restarts (``domain.metrics``)."""

from __future__ import annotations

from tasktrail_api.domain.metrics import exposition
from tasktrail_api.domain.plan import LIVE
from tasktrail_api.domain.scope import Scope
from tasktrail_api.usecases.ports import Clock, ReadModels

MAX_WORKERS = 10_000
MAX_QUEUES = 1000
WORKER_FIELDS = {"hostname": 1, "app": 1, "alive_until": 1, "active": 1}


class Metrics:
    def __init__(
        self, read_models: ReadModels, clock: Clock, *, needs_token: bool, label_limit: int
    ) -> None:
        self._read_models = read_models
        self._clock = clock
        self.needs_token = needs_token
        """Whether ``/metrics`` asks for a token (the scope is then the token's)."""
        self.label_limit = label_limit

    async def exposition(self, scope: Scope) -> str:
        totals = [d for d in await self._read_models.totals() if scope.allows(d.get("app"))]
        workers = await self._read_models.workers.rows(
            {**LIVE, **scope.condition()}, WORKER_FIELDS, MAX_WORKERS
        )
        queues = await self._read_models.queues.rows(scope.condition(), None, MAX_QUEUES)
        return exposition(totals, workers, queues, self._clock.now(), self.label_limit)
