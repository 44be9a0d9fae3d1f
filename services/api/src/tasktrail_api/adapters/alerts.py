"""The alert collections in MongoDB, and "send test" over NATS request/reply to a notifier."""

from __future__ import annotations

import json
from typing import Any

from nats.aio.client import Client
from nats.errors import Error as NatsError
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_shared import mongo
from tasktrail_shared.alerts import ALERT_COLLECTIONS, ALERT_INCIDENTS, TEST_SUBJECT, TestOutcome

from tasktrail_api.domain.errors import Unavailable

Doc = dict[str, Any]
ORDER = {ALERT_INCIDENTS: "started_at"}


class MongoAlertStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._db = db
        self._ready = False

    async def _prepare(self) -> None:
        if not self._ready:
            await mongo.create_collections(self._db, ALERT_COLLECTIONS)
            self._ready = True

    async def insert(self, collection: str, doc: Doc) -> None:
        await self._prepare()
        await self._db[collection].insert_one(doc)

    async def get(self, collection: str, object_id: str) -> Doc | None:
        return await self._db[collection].find_one({"_id": object_id})

    async def find(self, collection: str, query: Doc, limit: int, newest_first: bool) -> list[Doc]:
        field = ORDER.get(collection, "created")
        cursor = self._db[collection].find(query).sort([(field, DESCENDING if newest_first else 1)])
        return await cursor.limit(limit).to_list(limit)

    async def delete(self, collection: str, object_id: str) -> bool:
        return (await self._db[collection].delete_one({"_id": object_id})).deleted_count == 1

    async def update(self, collection: str, object_id: str, fields: Doc) -> bool:
        result = await self._db[collection].update_one({"_id": object_id}, {"$set": fields})
        return result.matched_count == 1


class NatsChannelTester:
    def __init__(self, nc: Client, *, timeout: float) -> None:
        self._nc, self._timeout = nc, timeout

    async def test(self, channel_id: str) -> TestOutcome:
        body = json.dumps({"channel": channel_id}).encode()
        try:
            reply = await self._nc.request(TEST_SUBJECT, body, timeout=self._timeout)
        except (NatsError, TimeoutError) as exc:
            raise Unavailable(f"no notifier answered: {exc or type(exc).__name__}") from exc
        return TestOutcome.model_validate_json(reply.data)
