"""``DurableFigures`` over MongoDB (the projector's checkpoints and dead letters, any
aggregation) and JetStream (the stream's last sequence)."""

from __future__ import annotations

import logging

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.errors import Error as JetStreamError
from tasktrail_shared import mongo
from tasktrail_shared.alerts import ALERT_DELIVERIES

from tasktrail_api.adapters.readmodels import MongoReadModels
from tasktrail_api.domain.own_metrics import Pipeline
from tasktrail_api.domain.plan import Doc, Query

log = logging.getLogger(__name__)


class StoredFigures:
    def __init__(
        self, read_models: MongoReadModels, nc: Client, *, stream: str, timeout: float
    ) -> None:
        self._read_models = read_models
        self._js = nc.jetstream(timeout=timeout)
        self._stream = stream

    async def _last_sequence(self) -> int | None:
        try:
            info = await self._js.stream_info(self._stream)
        except (NatsError, JetStreamError, TimeoutError) as exc:
            log.warning("metrics: no stream info for %s: %r", self._stream, exc)
            return None
        return int(info.state.last_seq)

    async def pipeline(self) -> Pipeline:
        db = self._read_models.database

        async def positions() -> dict[str, int]:
            cursor = db[mongo.CHECKPOINTS].find({}, {"seq": 1})
            return {str(d["_id"]): int(d.get("seq") or 0) async for d in cursor}

        async def dead_letters() -> int:
            return await db[mongo.DEAD_LETTERS].count_documents({})

        return Pipeline(
            last_sequence=await self._last_sequence(),
            positions=await self._read_models.run(positions),
            dead_letters=await self._read_models.run(dead_letters),
        )

    async def commands(self, pipeline: list[Query]) -> list[Doc]:
        return await self._read_models.aggregate(mongo.TASK_EVENTS, pipeline)

    async def deliveries(self, pipeline: list[Query]) -> list[Doc]:
        return await self._read_models.aggregate(ALERT_DELIVERIES, pipeline)
