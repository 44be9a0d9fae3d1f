"""The catalog's secret keys in MongoDB: two first requests agree on one key, a rotation
replaces it at once, a delete removes it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from tasktrail_api.adapters.readmodels import open_read_models
from tasktrail_api.domain.catalog import new_key

ENTRY = "0123456789abcdef01234567"


async def test_first_keys_agree_and_a_rotation_replaces_the_key(
    mongo_url: str, mongo_db: str
) -> None:
    store = open_read_models(mongo_url, mongo_db, timeout=10)
    try:
        at = datetime.now(UTC)
        assert await store.get_key(ENTRY) is None
        offered = [new_key() for _ in range(4)]
        issued = await asyncio.gather(
            *(store.issue_key(ENTRY, key, "admin", at, replace=False) for key in offered)
        )
        assert len(set(issued)) == 1 and issued[0] in offered
        assert await store.get_key(ENTRY) == issued[0]

        rotated = new_key()
        assert await store.issue_key(ENTRY, rotated, "admin", at, replace=True) == rotated
        assert await store.get_key(ENTRY) == rotated
        assert await store.issue_key(ENTRY, new_key(), "admin", at, replace=False) == rotated

        await store.remove_key(ENTRY)
        assert await store.get_key(ENTRY) is None
    finally:
        await store.close()
