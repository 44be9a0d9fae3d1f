"""Queue depths: each broker queue's latest measured depth and its trend, per cluster of the
caller's scope (the projector's ``queue_depths``, from control's measurements)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tasktrail_api.domain import serializers
from tasktrail_api.domain.scope import Scope
from tasktrail_api.usecases.ports import Clock, ReadModels

MAX_QUEUES = 1000
"""Queues listed at most (every cluster of the scope together)."""


def present(doc: dict[str, Any], now: datetime) -> dict[str, Any]:
    """A queue as the API shows it: ``age`` is seconds since it was measured."""
    measured = doc.get("measured_at")
    age = (now - measured).total_seconds() if isinstance(measured, datetime) else None
    return {
        "app": doc.get("app"),
        "queue": doc.get("queue"),
        "depth": doc.get("depth"),
        "measured_at": serializers.plain(measured),
        "age": None if age is None else round(max(age, 0.0), 3),
        "trend": [
            {"at": serializers.plain(s.get("at")), "depth": s.get("depth")}
            for s in doc.get("trend") or []
        ],
    }


class Queues:
    def __init__(self, read_models: ReadModels, clock: Clock) -> None:
        self._read_models = read_models
        self._clock = clock

    async def depths(self, scope: Scope, app: str | None = None) -> list[dict[str, Any]]:
        """Every measured queue in ``scope`` (of cluster ``app`` if given), by cluster, name."""
        if app is not None and not scope.allows(app):
            return []
        query = {"app": app} if app is not None else scope.condition()
        docs = await self._read_models.queues.rows(query, None, MAX_QUEUES)
        now = self._clock.now()
        return [present(doc, now) for doc in docs]
