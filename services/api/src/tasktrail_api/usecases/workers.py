"""Workers: the list and one worker as projected, and ``refresh`` (ping and inspect all)."""

from __future__ import annotations

from typing import Any

from tasktrail_api.domain import serializers
from tasktrail_api.domain.filters import WorkerFilters
from tasktrail_api.domain.plan import WORKER_PROJECTION, online_workers, worker_page
from tasktrail_api.domain.principals import Principal
from tasktrail_api.usecases.commands import Commands
from tasktrail_api.usecases.ports import Clock, ReadModels
from tasktrail_api.usecases.tasks import Page
from tasktrail_api.usecases.writes import WORKER, live

MAX_EXPECTED = 10_000


class Workers:
    def __init__(self, read_models: ReadModels, commands: Commands, clock: Clock) -> None:
        self._documents = read_models.workers
        self._commands = commands
        self._clock = clock

    async def list(self, filters: WorkerFilters) -> Page:
        now = self._clock.now()
        plan = worker_page(filters, now)
        docs = await self._documents.read(plan.steps, plan.skip + plan.limit, plan.projection)
        count = await self._documents.count(plan.count, None)
        return Page([serializers.worker(doc, now) for doc in docs[plan.skip :]], count)

    async def get(self, worker_id: str) -> dict[str, Any]:
        doc = await live(self._documents, WORKER, worker_id, WORKER_PROJECTION)
        return serializers.worker(doc, self._clock.now())

    async def refresh(self, caller: Principal, key: str | None) -> dict[str, Any]:
        """Ping and inspect every worker; those the read model shows online (``expected``)
        that do not answer are recorded unreachable and go offline."""
        online = await self._documents.ids(online_workers(self._clock.now()), MAX_EXPECTED)
        args = {"names": None, "expected": online}
        reply = await self._commands.send("refresh", args, caller, key)
        return {**serializers.command_result(reply), "expected": online}
