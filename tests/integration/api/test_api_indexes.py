"""The API creates the indexes behind its filters and sorts when it starts."""

from __future__ import annotations

import asyncio

from pymongo import AsyncMongoClient
from tasktrail_api.app import create_app
from tasktrail_api.domain import indexes
from tasktrail_api.settings import Settings


async def test_start_up_creates_every_query_index(settings: Settings, mongo_url: str) -> None:
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
    finally:
        await client.close()
