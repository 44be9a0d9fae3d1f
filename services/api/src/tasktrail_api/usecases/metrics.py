"""``/metrics``: the Prometheus exposition of the clusters in a scope, from the read models
(the projector's counters, workers, queue depths), so every API replica answers the same and
nothing is lost when a process restarts (``domain.metrics``); tasktrail's own figures from
the log, the checkpoints, the audit and the alert deliveries (``domain.own_metrics``); and
the answering process's own (``process_*``), which are that replica's."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import KW_ONLY, dataclass

from tasktrail_shared import process_metrics
from tasktrail_shared.exposition import Exposition

from tasktrail_api.domain.metrics import exposition
from tasktrail_api.domain.own_metrics import command_totals, delivery_totals, own_exposition
from tasktrail_api.domain.plan import LIVE
from tasktrail_api.domain.scope import Scope
from tasktrail_api.usecases.ports import Clock, DurableFigures, ReadModels

MAX_WORKERS = 10_000
MAX_QUEUES = 1000
WORKER_FIELDS = {"hostname": 1, "app": 1, "alive_until": 1, "active": 1}
ProcessFigures = Callable[[], Mapping[str, float]]


@dataclass(eq=False)
class Metrics:
    read_models: ReadModels
    clock: Clock
    _: KW_ONLY
    needs_token: bool
    """Whether ``/metrics`` asks for a token (the scope is then the token's)."""
    label_limit: int
    """Task names (and workers) that keep their own label; the rest are ``other``."""
    figures: DurableFigures | None = None
    """tasktrail's own figures; without them, ``/metrics`` has only the Celery ones."""
    process: ProcessFigures | None = None
    """The answering process's ``process_*`` figures."""

    async def exposition(self, scope: Scope) -> str:
        totals = [
            d for d in await self.read_models.totals(lifecycle=True) if scope.allows(d.get("app"))
        ]
        workers = await self.read_models.workers.rows(
            {**LIVE, **scope.condition()}, WORKER_FIELDS, MAX_WORKERS
        )
        queues = await self.read_models.queues.rows(scope.condition(), None, MAX_QUEUES)
        text = exposition(totals, workers, queues, self.clock.now(), self.label_limit)
        return text + await self._own(scope) + self._process_text()

    async def _own(self, scope: Scope) -> str:
        if self.figures is None:
            return ""
        figures, condition = self.figures, scope.condition()
        pipeline = await figures.pipeline() if scope.is_everything else None
        commands = await figures.commands(command_totals(condition))
        deliveries = await figures.deliveries(delivery_totals(condition))
        return own_exposition(pipeline, commands, deliveries)

    def _process_text(self) -> str:
        if self.process is None:
            return ""
        out = Exposition()
        process_metrics.write(out, self.process())
        return out.text()
