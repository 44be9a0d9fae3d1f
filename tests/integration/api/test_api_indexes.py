"""The API creates the indexes behind its filters and sorts when it starts."""

from __future__ import annotations

import asyncio

from pymongo import AsyncMongoClient
from tasktrail_api.app import create_app
from tasktrail_api.domain import indexes
from tasktrail_api.settings import Settings
from tasktrail_shared.fields import label_index


async def test_start_up_creates_every_query_index(settings: Settings, mongo_url: str) -> None:
    earlier: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url)
    tasks = earlier[settings.mongo_db]["tasks"]
    await tasks.create_index([("deleted", 1), ("state", 1), ("timestamp", 1)], name="live_state_ts")
    await tasks.create_index(label_index("port")[1], name=label_index("port")[0])
    await earlier.close()
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await asyncio.wait_for(asyncio.shield(app.state.indexing), 120)
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url)
    try:
        db = client[settings.mongo_db]
        for collection, specs in (
            ("tasks", indexes.TASK_INDEXES),
            ("workers", indexes.WORKER_INDEXES),
            ("task_events", indexes.EVENT_INDEXES),
        ):
            names = {index["name"] async for index in await db[collection].list_indexes()}
            assert set(specs) <= names, f"{collection}: missing {set(specs) - names}"
        held = set(await db["tasks"].index_information())
        assert "live_state_ts" not in held  # an earlier release's: dropped
        assert "live_label_port" in held  # the projector's, for a configured label: kept
    finally:
        await client.close()
