"""The sweeps' reads of ``tasks`` walk the projector's indexes on a real server: they run every
few seconds, so a read that scanned the collection would cost every sweep the whole history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from tasktrail_projector.adapters.store import MongoStore, of_slot, unfinished_on
from tasktrail_shared import mongo
from tasktrail_shared.states import ON_WORKER

Doc = dict[str, Any]


@pytest.fixture
async def store(mongo_url: str, mongo_db: str) -> AsyncIterator[MongoStore]:
    subject = MongoStore.open(mongo_url, mongo_db)
    await subject.ensure_indexes()
    yield subject
    await subject.close()


async def winning_index(mongo_url: str, db: str, query: Doc) -> str | None:
    """The index the server's winning plan for ``query`` on ``tasks`` scans (``None``: none)."""
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongo_url)
    try:
        explained = await client[db].command("explain", {"find": mongo.TASKS, "filter": query})
    finally:
        await client.close()
    todo = [explained["queryPlanner"]["winningPlan"]]
    while todo:
        stage = todo.pop()
        if stage["stage"] == "IXSCAN":
            return str(stage["indexName"])
        todo += [stage["inputStage"]] if "inputStage" in stage else []
        todo += stage.get("inputStages", [])
    return None


async def test_the_lost_sweep_reads_one_worker_by_the_worker_state_index(
    store: MongoStore, mongo_url: str, mongo_db: str
) -> None:
    query = unfinished_on("celery@a", sorted(ON_WORKER))
    assert await winning_index(mongo_url, mongo_db, query) == "worker_1_state_1"


async def test_the_counters_read_a_slot_by_the_slots_index(
    store: MongoStore, mongo_url: str, mongo_db: str
) -> None:
    query = of_slot(datetime(2026, 1, 1, tzinfo=UTC))
    assert await winning_index(mongo_url, mongo_db, query) == "_slots_1"
