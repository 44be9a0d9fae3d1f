"""Each port of the projector, twice: the in-memory fake the unit tests use and the real
adapter on a real server (SecantusDB, NATS with JetStream, started on free ports in temporary
directories by the fixtures of ``tests/conftest.py``).

Every contract test takes one of the parametrised fixtures below, so it runs against both;
where the fake and the adapter disagree, the fake is what gets fixed.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import nats
import pytest
from tasktrail_projector.adapters.store import MongoStore
from tasktrail_projector.adapters.stream import JetStreamSource
from tasktrail_projector.ports import Delivery, Doc, EventSource, Store
from tasktrail_projector.settings import Settings

from tests.unit.projector.fakes import FakeDelivery, FakeSource, FakeStore

Peek = Callable[[str], Awaitable[dict[Any, Doc]]]
Message = tuple[str, Mapping[str, str], bytes]


@dataclass
class StoreUnderTest:
    """A store through its port, and a way to see what it holds that the port does not read."""

    store: Store
    peek: Peek


@pytest.fixture
async def fake_store() -> StoreUnderTest:
    fake = FakeStore()

    async def peek(collection: str) -> dict[Any, Doc]:
        return copy.deepcopy(fake.docs(collection))

    return StoreUnderTest(fake, peek)


@pytest.fixture
async def mongo_store(mongo_url: str, mongo_db: str) -> AsyncIterator[StoreUnderTest]:
    store = MongoStore.open(mongo_url, mongo_db)
    await store.ensure_indexes()

    async def peek(collection: str) -> dict[Any, Doc]:
        return {doc["_id"]: doc async for doc in store.db[collection].find()}

    try:
        yield StoreUnderTest(store, peek)
    finally:
        await store.close()


@pytest.fixture(params=["fake_store", "mongo_store"])
def subject(request: pytest.FixtureRequest) -> StoreUnderTest:
    """The store port, once in memory and once on the MongoDB-wire server."""
    found: StoreUnderTest = request.getfixturevalue(request.param)
    return found


@dataclass
class SourceUnderTest:
    """An event source through its port, and a way to append to the log it reads."""

    source: EventSource
    append: Callable[[Sequence[Message]], Awaitable[None]]
    fetched: list[Delivery] = field(default_factory=list)

    async def fetch(self, batch: int, timeout: float = 0.5) -> list[Delivery]:
        got = list(await self.source.fetch(batch, timeout))
        self.fetched.extend(got)
        return got

    async def fetch_all(self, batch: int = 100, timeout: float = 0.5) -> list[Delivery]:
        """Fetch until a fetch comes back empty."""
        out: list[Delivery] = []
        while got := await self.fetch(batch, timeout):
            out.extend(got)
        return out


@pytest.fixture
async def fake_source() -> SourceUnderTest:
    fake = FakeSource([])

    async def append(messages: Sequence[Message]) -> None:
        for subject, headers, data in messages:
            seq = len(fake.deliveries) + 1
            fake.deliveries.append(FakeDelivery(subject, dict(headers), data, seq))

    return SourceUnderTest(fake, append)


@pytest.fixture
async def jetstream_source(nats_url: str, nats_stream: str) -> AsyncIterator[SourceUnderTest]:
    settings = Settings(nats_url=nats_url, stream=nats_stream)
    source = await JetStreamSource.open(nats_url, settings.stream_settings(), "contract")
    nc = await nats.connect(nats_url)

    async def append(messages: Sequence[Message]) -> None:
        js = nc.jetstream()
        for subject, headers, data in messages:
            await js.publish(subject, data, headers=dict(headers))

    try:
        yield SourceUnderTest(source, append)
    finally:
        await nc.close()
        await source.close()


@pytest.fixture(params=["fake_source", "jetstream_source"])
def log(request: pytest.FixtureRequest) -> SourceUnderTest:
    """The event source port, once in memory and once on a JetStream server."""
    found: SourceUnderTest = request.getfixturevalue(request.param)
    return found
