"""The notifier's MongoDB: it reads the alert configuration the API writes (channels, rules,
silences) and the cluster owners, and writes incidents and deliveries.

Every write is idempotent under a deterministic id, so replicas doing the same work agree:
an incident is inserted once (``$setOnInsert``) and resolved once (only while firing); a
delivery is inserted once and claimed by one replica at a time, with a lease that another
replica takes over when the claimant dies mid-delivery.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError
from tasktrail_shared import mongo
from tasktrail_shared.alerts import (
    ALERT_CHANNELS,
    ALERT_COLLECTIONS,
    ALERT_DELIVERIES,
    ALERT_INCIDENTS,
    ALERT_RULES,
    ALERT_SILENCES,
)

Doc = dict[str, Any]
MAX_CONFIG = 10_000
PENDING = "pending"
SENDING = "sending"


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


class MongoStore:
    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._db = db

    async def prepare(self) -> None:
        await mongo.create_collections(self._db, ALERT_COLLECTIONS)
        await self._db[ALERT_DELIVERIES].create_index([("state", ASCENDING)])
        await self._db[ALERT_INCIDENTS].create_index([("state", ASCENDING)])
        await self._db[ALERT_INCIDENTS].create_index(
            [("org", ASCENDING), ("started_at", ASCENDING)]
        )

    async def ping(self) -> bool:
        await self._db.command("ping")
        return True

    async def _all(self, name: str, query: Doc) -> list[Doc]:
        return await self._db[name].find(query).to_list(MAX_CONFIG)

    async def rules(self) -> list[Doc]:
        return await self._all(ALERT_RULES, {})

    async def channels(self) -> dict[str, Doc]:
        return {str(doc["_id"]): doc for doc in await self._all(ALERT_CHANNELS, {})}

    async def channel(self, channel_id: str) -> Doc | None:
        return await self._db[ALERT_CHANNELS].find_one({"_id": channel_id})

    async def silences(self, now: float) -> list[Doc]:
        return await self._all(ALERT_SILENCES, {"until": {"$gt": _at(now)}})

    async def owners(self) -> dict[str, str]:
        """Cluster -> organisation, for the clusters given to one (others are the default's)."""
        docs = await self._all(mongo.CLUSTERS, {})
        return {str(doc["_id"]): str(doc["org"]) for doc in docs if doc.get("org")}

    async def firing(self) -> list[Doc]:
        return await self._all(ALERT_INCIDENTS, {"state": "firing"})

    async def incident(self, incident_id: str) -> Doc | None:
        return await self._db[ALERT_INCIDENTS].find_one({"_id": incident_id})

    async def open_incident(self, doc: Doc) -> None:
        await self._db[ALERT_INCIDENTS].update_one(
            {"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True
        )

    async def resolve_incident(self, incident_id: str, at: float) -> None:
        await self._db[ALERT_INCIDENTS].update_one(
            {"_id": incident_id, "state": "firing"},
            {"$set": {"state": "resolved", "resolved_at": _at(at)}},
        )

    async def add_deliveries(self, docs: list[Doc]) -> None:
        """Insert each delivery once; one already there (another replica's) is kept."""
        if not docs:
            return
        try:
            await self._db[ALERT_DELIVERIES].insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            others = [e for e in exc.details.get("writeErrors", []) if e.get("code") != 11000]
            if others:
                raise

    async def pending(self, now: float, limit: int = 100) -> list[Doc]:
        """Deliveries to make: never claimed, or claimed by a replica whose lease ran out."""
        query = {
            "$or": [
                {"state": PENDING},
                {"state": SENDING, "lease_until": {"$lt": _at(now)}},
            ]
        }
        return await self._db[ALERT_DELIVERIES].find(query).to_list(limit)

    async def claim(self, delivery_id: str, now: float, lease: float, owner: str) -> Doc | None:
        """The delivery, now ours until ``now + lease``; ``None`` if another replica has it."""
        query = {
            "_id": delivery_id,
            "$or": [
                {"state": PENDING},
                {"state": SENDING, "lease_until": {"$lt": _at(now)}},
            ],
        }
        update = {"$set": {"state": SENDING, "lease_until": _at(now + lease), "owner": owner}}
        return await self._db[ALERT_DELIVERIES].find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )

    async def finish(self, delivery_id: str, owner: str, fields: Doc) -> None:
        await self._db[ALERT_DELIVERIES].update_one(
            {"_id": delivery_id, "owner": owner}, {"$set": fields}
        )

    async def release(self, delivery_id: str, owner: str) -> None:
        """Give a claimed delivery back (silenced for now): pending again."""
        await self._db[ALERT_DELIVERIES].update_one(
            {"_id": delivery_id, "owner": owner}, {"$set": {"state": PENDING}}
        )

    async def take_mail_slot(self, channel_id: str, now: float, window: float) -> bool:
        """Whether this replica sends the channel's next mail: true for the one whose update
        finds the last mail (``mailed_at``) at least ``window`` seconds old, or none."""
        query = {
            "_id": channel_id,
            "$or": [{"mailed_at": None}, {"mailed_at": {"$lte": _at(now - window)}}],
        }
        update = {"$set": {"mailed_at": _at(now)}}
        return await self._db[ALERT_CHANNELS].find_one_and_update(query, update) is not None

    async def disable_channel(self, channel_id: str, reason: str, at: float) -> None:
        await self._db[ALERT_CHANNELS].update_one(
            {"_id": channel_id, "disabled": None},
            {"$set": {"disabled": {"reason": reason, "at": _at(at)}}},
        )
