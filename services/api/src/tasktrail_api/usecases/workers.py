"""Workers: the list and one worker as projected, and ``refresh`` (ping and inspect all)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from tasktrail_api.domain import serializers
from tasktrail_api.domain.errors import NotFound
from tasktrail_api.domain.filters import WorkerFilters
from tasktrail_api.domain.inspection import Profile, profile
from tasktrail_api.domain.plan import (
    WORKER_PROJECTION,
    WORKER_SORT,
    by_ids,
    online_workers,
    worker_page,
    workers_by_ids,
)
from tasktrail_api.domain.principals import Principal
from tasktrail_api.domain.scope import Scope
from tasktrail_api.usecases.commands import Commands
from tasktrail_api.usecases.orgs import Orgs
from tasktrail_api.usecases.ports import Clock, ReadModels
from tasktrail_api.usecases.tasks import Page
from tasktrail_api.usecases.writes import WORKER, live

MAX_EXPECTED = 10_000


class Workers:
    def __init__(
        self, read_models: ReadModels, commands: Commands, orgs: Orgs, clock: Clock
    ) -> None:
        self._documents = read_models.workers
        self._commands = commands
        self._orgs = orgs
        self._clock = clock

    async def list(self, filters: WorkerFilters, scope: Scope) -> Page:
        now = self._clock.now()
        plan = worker_page(filters, now, scope)
        docs = await self._documents.read(plan.steps, plan.skip + plan.limit, plan.projection)
        count = await self._documents.count(plan.count, None)
        return Page([serializers.worker(doc, now) for doc in docs[plan.skip :]], count)

    async def many(self, hostnames: Sequence[str], scope: Scope) -> builtins.list[dict[str, Any]]:
        """The live workers in ``scope`` among ``hostnames``, as shown, in hostname order."""
        if not hostnames:
            return []
        now = self._clock.now()
        plan = by_ids(hostnames, WORKER_PROJECTION, WORKER_SORT, scope)
        docs = await self._documents.read(plan.steps, plan.limit, plan.projection)
        return [serializers.worker(doc, now) for doc in docs]

    async def get(self, worker_id: str, scope: Scope) -> dict[str, Any]:
        doc = await live(self._documents, WORKER, worker_id, WORKER_PROJECTION, scope)
        return serializers.worker(doc, self._clock.now())

    async def profiled(self, worker_id: str, scope: Scope) -> tuple[dict[str, Any], Profile | None]:
        """The worker as shown, and what its latest inspection said (pool, queues, tasks)."""
        projection = {**WORKER_PROJECTION, "inspected": 1}
        doc = await live(self._documents, WORKER, worker_id, projection, scope)
        return serializers.worker(doc, self._clock.now()), profile(doc.get("inspected"))

    async def selected(self, ids: Sequence[str], scope: Scope) -> builtins.list[dict[str, Any]]:
        """The workers ``ids`` name (uuid or hostname), in that order; NotFound naming those
        that do not exist or are outside ``scope``."""
        now = self._clock.now()
        docs = await self._documents.rows(
            workers_by_ids(ids, scope), WORKER_PROJECTION, 2 * len(ids)
        )
        found = {str(key): doc for doc in docs for key in (doc.get("id"), doc["_id"]) if key}
        missing = [ident for ident in ids if ident not in found]
        if missing:
            raise NotFound(f"worker not found: {', '.join(missing[:10])}")
        return [serializers.worker(found[ident], now) for ident in ids]

    async def online(self, scope: Scope) -> builtins.list[dict[str, Any]]:
        """The workers online now (heartbeats within Celery's expiry), by hostname."""
        now = self._clock.now()
        docs = await self._documents.rows(
            online_workers(now, scope), WORKER_PROJECTION, MAX_EXPECTED
        )
        return [serializers.worker(doc, now) for doc in docs]

    async def refresh(self, caller: Principal, key: str | None, scope: Scope) -> dict[str, Any]:
        """Ping and inspect every worker of each cluster in ``scope``; those the read model
        shows online (``expected``) that do not answer are recorded unreachable and go
        offline."""
        query = online_workers(self._clock.now(), scope)
        rows = await self._documents.rows(query, {"app": 1}, MAX_EXPECTED)
        default = self._orgs.default_app
        routes: dict[str, dict[str, Any]] = {
            app: {"names": None, "expected": []} for app in await self._orgs.clusters(scope)
        }
        for row in rows:
            app = str(row.get("app") or default)
            if app in routes:
                routes[app]["expected"].append(str(row["_id"]))
        reply = await self._commands.fan_out("refresh", routes, caller, key)
        expected = sorted(host for args in routes.values() for host in args["expected"])
        return {**serializers.command_result(reply), "expected": expected}
