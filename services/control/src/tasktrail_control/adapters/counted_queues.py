"""The queues a cluster's task documents name, from the projector's counters in MongoDB."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from tasktrail_shared import counts, mongo


class CountedQueues:
    """Reads the cluster's ``total`` tally (one small document) rather than the tasks."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], database: str, app: str) -> None:
        self.client = client
        self._counts = client[database][mongo.COUNTS]
        self._id = counts.document_id(counts.TOTAL, app, None)

    async def names(self) -> set[str]:
        doc = await self._counts.find_one({"_id": self._id}, {counts.STATE_ROWS: 1})
        rows = (doc or {}).get(counts.STATE_ROWS) or []
        return {str(row["v"]) for row in rows if row.get("d") == "queue" and row.get("v")}

    async def close(self) -> None:
        await self.client.close()
