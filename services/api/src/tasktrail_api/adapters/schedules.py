"""The scheduled-jobs read models (``schedulers``, ``schedule_jobs``, ``schedule_runs``) over
the API's MongoDB client (``ScheduleReads``)."""

from __future__ import annotations

from tasktrail_shared import mongo

from tasktrail_api.adapters.readmodels import MongoDocuments, MongoReadModels


class MongoScheduleReads:
    def __init__(self, store: MongoReadModels) -> None:
        self._store = store
        self.schedulers = MongoDocuments(store, mongo.SCHEDULERS)
        self.jobs = MongoDocuments(store, mongo.SCHEDULE_JOBS)
        self.runs = MongoDocuments(store, mongo.SCHEDULE_RUNS)

    async def job_counts(self, schedulers: list[str]) -> dict[str, int]:
        if not schedulers:
            return {}
        rows = await self._store.aggregate(
            mongo.SCHEDULE_JOBS,
            [
                {"$match": {"scheduler": {"$in": schedulers}, "active": True}},
                {"$group": {"_id": "$scheduler", "n": {"$sum": 1}}},
            ],
        )
        return {str(row["_id"]): int(row["n"]) for row in rows}
