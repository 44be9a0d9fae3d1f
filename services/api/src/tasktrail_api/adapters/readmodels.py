"""Read access to the projector's MongoDB collections (organisations and the task catalog
included), and the API tokens and catalog keys next to them.

Every operation is bounded by pymongo's own timeout (``pymongo.timeout``) and is never
cancelled from outside: a cancelled operation can leave the async client's topology lock
released twice (``RuntimeError: Lock is not acquired``), after which every later operation
hangs. So each one runs as a task of its own that the caller awaits through
``asyncio.shield``: a client that goes away (or a test client's deadline) cancels the wait,
not the operation. A lost connection or a timeout becomes Unavailable; any other driver error
is a bug and stays one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError
from tasktrail_shared import counts, mongo
from tasktrail_shared.fields import SEED_LABELS

from tasktrail_api.domain import history, indexes
from tasktrail_api.domain.errors import Conflict, Unavailable
from tasktrail_api.domain.plan import Doc, Query, Segment, SortSpec, Step, merged, worker_totals
from tasktrail_api.domain.scope import Scope

T = TypeVar("T")
log = logging.getLogger(__name__)
INDEXES = (
    (mongo.TASKS, indexes.TASK_INDEXES),
    (mongo.WORKERS, indexes.WORKER_INDEXES),
    (mongo.TASK_EVENTS, indexes.EVENT_INDEXES),
    (mongo.CATALOG, indexes.CATALOG_INDEXES),
)


LABELS_TTL = 2.0
"""Seconds the set of indexed labels is trusted (the projector indexes configured labels);
it is looked up only for a list filtered by a label the seed does not define."""


def _unavailable(exc: PyMongoError) -> bool:
    return isinstance(exc, ConnectionFailure) or exc.timeout


def _consume(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


class MongoReadModels:
    """The ``ReadModels``, ``TokenStore`` and ``CatalogKeys`` ports over one MongoDB database."""

    def __init__(self, client: AsyncMongoClient[Doc], database: str, timeout: float) -> None:
        self._client = client
        self._db: AsyncDatabase[Doc] = client[database]
        self._timeout = timeout
        self._pending: set[asyncio.Task[Any]] = set()
        self.tasks = MongoDocuments(self, mongo.TASKS)
        self.workers = MongoDocuments(self, mongo.WORKERS)
        self.catalog = MongoDocuments(self, mongo.CATALOG)
        self.orgs = MongoDocuments(self, mongo.ORGS)
        self.clusters = MongoDocuments(self, mongo.CLUSTERS)
        self.queues = MongoDocuments(self, mongo.QUEUE_DEPTHS)
        self._events = MongoDocuments(self, mongo.TASK_EVENTS)
        self._labels: tuple[float, frozenset[str] | None] = (0.0, None)

    async def close(self) -> None:
        """Let detached operations finish (never cancel them), then close the client."""
        if self._pending:
            await asyncio.wait(self._pending)
        await self._client.close()

    def collection(self, name: str) -> AsyncCollection[Doc]:
        return self._db[name]

    @property
    def database(self) -> AsyncDatabase[Doc]:
        """The database, for adapters of collections that are not read models (alerts)."""
        return self._db

    async def run(self, op: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
        """``op`` bounded by pymongo's timeout, detached from the caller's cancellation."""
        limit = self._timeout if timeout is None else timeout

        async def bounded() -> T:
            with pymongo.timeout(limit):
                try:
                    return await op()
                except PyMongoError as exc:
                    if _unavailable(exc):
                        raise Unavailable("the read-model store is unavailable") from exc
                    raise

        task = asyncio.ensure_future(bounded())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        task.add_done_callback(_consume)
        return await asyncio.shield(task)

    async def ensure_indexes(self, timeout: float = 600) -> None:
        """Create the indexes behind every filter and sort the API offers (idempotent).

        A quick ping first: with MongoDB away this gives up within the read timeout instead
        of holding the shutdown for the whole build timeout.
        """
        await self.ping(self._timeout)
        for collection, specs in INDEXES:
            target = self._db[collection]
            held = await self.run(target.index_information, timeout)
            for name in indexes.obsolete({n: i["key"] for n, i in held.items()}, specs):
                log.info("dropping index %s.%s: no list shape reads it as it is", collection, name)
                await self.run(self._drop_op(target, name), timeout)
            models = [
                IndexModel(
                    spec["keys"], name=name, **{k: v for k, v in spec.items() if k != "keys"}
                )
                for name, spec in specs.items()
            ]
            await self.run(self._index_op(target, models), timeout)

    @staticmethod
    def _drop_op(target: AsyncCollection[Doc], name: str) -> Callable[[], Awaitable[None]]:
        return lambda: target.drop_index(name)

    @staticmethod
    def _index_op(
        target: AsyncCollection[Doc], models: list[IndexModel]
    ) -> Callable[[], Awaitable[list[str]]]:
        return lambda: target.create_indexes(models)

    async def ping(self, timeout: float) -> None:
        """Raises unless MongoDB answers within ``timeout`` seconds."""
        await self.run(lambda: self._client.admin.command("ping"), timeout)

    async def aggregate(self, collection: str, pipeline: list[Query]) -> list[Doc]:
        async def op() -> list[Doc]:
            cursor = await self._db[collection].aggregate(pipeline)
            return await cursor.to_list()

        return await self.run(op)

    async def worker_groups(self, now: datetime, scope: Scope) -> list[Doc]:
        return await self.aggregate(mongo.WORKERS, worker_totals(now, scope))

    async def totals(self, *, lifecycle: bool = False, labels: bool = False) -> list[Doc]:
        """The projector's ``total`` counters, one document per cluster (and its lifecycle
        or label totals if asked). Read whole: a projection costs the embedded server a
        copy."""
        levels = [counts.TOTAL]
        levels += [counts.TOTAL_LIFECYCLE] if lifecycle else []
        levels += [counts.TOTAL_LABELS] if labels else []

        async def op() -> list[Doc]:
            cursor = self._db[mongo.COUNTS].find({"level": {"$in": levels}})
            return await cursor.to_list()

        return await self.run(op)

    async def indexed_labels(self) -> frozenset[str]:
        """The labels with an index on ``tasks`` (looked up again after ``LABELS_TTL`` s)."""
        at, known = self._labels
        if known is None or time.monotonic() - at > LABELS_TTL:
            names = await self.run(lambda: self._db[mongo.TASKS].index_information())
            known = indexes.indexed_labels(names) | frozenset(SEED_LABELS)
            self._labels = (time.monotonic(), known)
        return known

    async def history(
        self, message: Query, entry: Query, direction: int, skip: int, limit: int
    ) -> tuple[list[Doc], int]:
        """History entries (each an unwound message: ``events`` is the entry) and their count."""
        rows, counted = await asyncio.gather(
            self.aggregate(
                mongo.TASK_EVENTS, history.history_pipeline(message, entry, direction, skip, limit)
            ),
            self.aggregate(mongo.TASK_EVENTS, history.history_count(message, entry)),
        )
        return rows, int(counted[0]["n"]) if counted else 0

    async def log_entries(
        self, message: Query, entry: Query, direction: int, limit: int
    ) -> list[Doc]:
        return await self.aggregate(
            mongo.TASK_EVENTS, history.log_pipeline(message, entry, direction, limit)
        )

    async def stats(self, query: Query) -> list[Doc]:
        async def op() -> list[Doc]:
            cursor = self._db[mongo.STATS].find(query, {"_id": 0}).sort([("minute", 1)])
            return await cursor.limit(100_000).to_list()

        return await self.run(op)

    async def export_events(self, message: Query, chunk: int = 500) -> AsyncIterator[list[Doc]]:
        """Every matching history message in ``(timestamp, _id)`` order, a chunk at a time,
        each chunk one bounded read (keyset, never a long-lived server cursor)."""
        rows = await self._events.find(message, None, history.EVENT_SORT, limit=chunk)
        while rows:
            yield rows
            if len(rows) < chunk:
                return
            segments = history.events_after(message, rows[-1])
            rows = await self._events.find_segments(segments, None, chunk)

    # --- tokens ---------------------------------------------------------------------------

    async def get_token(self, digest: str) -> Doc | None:
        return await self.run(lambda: self._db[mongo.TOKENS].find_one({"_id": digest}))

    async def add_token(
        self, digest: str, name: str, role: str, by: str, at: datetime, org: str | None
    ) -> None:
        """Store a token's digest; qualified names are unique (the handle to revoke it by)."""
        tokens = self._db[mongo.TOKENS]

        async def op() -> None:
            await tokens.create_indexes([IndexModel([("name", 1)], unique=True, name="name")])
            doc = {"_id": digest, "name": name, "role": role, "created": at, "created_by": by,
                   "org": org}  # fmt: skip
            try:
                await tokens.insert_one(doc)
            except DuplicateKeyError as exc:
                raise Conflict(f"a token named {name!r} exists; revoke it first") from exc

        await self.run(op)

    async def list_tokens(self) -> list[Doc]:
        async def op() -> list[Doc]:
            cursor = self._db[mongo.TOKENS].find({}, {"_id": 0}).sort([("name", 1)])
            return await cursor.limit(10_000).to_list()

        return await self.run(op)

    async def token_named(self, name: str) -> Doc | None:
        return await self.run(lambda: self._db[mongo.TOKENS].find_one({"name": name}, {"_id": 0}))

    async def remove_token(self, name: str) -> bool:
        result = await self.run(lambda: self._db[mongo.TOKENS].delete_one({"name": name}))
        return bool(result.deleted_count)

    # --- secret keys of catalog entries ---------------------------------------------------

    async def get_key(self, entry: str) -> str | None:
        doc = await self.run(lambda: self._db[mongo.CATALOG_KEYS].find_one({"_id": entry}))
        return None if doc is None else str(doc["key"])

    async def issue_key(self, entry: str, key: str, by: str, at: datetime, *, replace: bool) -> str:
        keys = self._db[mongo.CATALOG_KEYS]
        doc = {"_id": entry, "key": key, "issued": at, "issued_by": by}

        async def op() -> str:
            if replace:
                await keys.replace_one({"_id": entry}, doc, upsert=True)
                return key
            try:
                await keys.insert_one(doc)
            except DuplicateKeyError:  # another request issued the first key: that one holds
                held = await keys.find_one({"_id": entry})
                return key if held is None else str(held["key"])
            return key

        return await self.run(op)

    async def remove_key(self, entry: str) -> None:
        await self.run(lambda: self._db[mongo.CATALOG_KEYS].delete_one({"_id": entry}))


class MongoDocuments:
    """The ``Documents`` port over one collection."""

    def __init__(self, store: MongoReadModels, name: str) -> None:
        self._store = store
        self._collection = store.collection(name)

    async def find(
        self, query: Query, projection: Query | None, sort: SortSpec, *, limit: int, skip: int = 0
    ) -> list[Doc]:
        async def op() -> list[Doc]:
            cursor = self._collection.find(query, projection).sort(sort)
            return await cursor.skip(skip).limit(limit).to_list()

        return await self._store.run(op)

    async def find_segments(
        self, segments: Sequence[Segment], projection: Query | None, limit: int, skip: int = 0
    ) -> list[Doc]:
        """Read ``segments`` in order until ``limit`` rows are found (see ``domain.plan``);
        ``skip`` applies to the first."""
        rows: list[Doc] = []
        for segment in segments:
            if len(rows) >= limit:
                break
            rows += await self.find(
                segment.query, projection, segment.sort, limit=limit - len(rows), skip=skip
            )
            skip = 0
        return rows

    async def read(self, steps: Sequence[Step], limit: int, projection: Query | None) -> list[Doc]:
        """Read ``steps`` in order until ``limit`` rows are found; the segments of one step
        are read together and merged in its order (see ``domain.plan``)."""
        rows: list[Doc] = []
        for step in steps:
            need = limit - len(rows)
            if need <= 0:
                break
            parts = await asyncio.gather(
                *(self.find(s.query, projection, s.sort, limit=need) for s in step.segments)
            )
            rows += merged(parts, step.sort)[:need]
        return rows

    async def count(self, steps: Sequence[Step], bound: int | None) -> int:
        """How many documents the steps' segments match, counting no further than past
        ``bound`` (``None``: all of them)."""
        found = 0
        for segment in (s for step in steps for s in step.segments):
            if bound is not None and found > bound:
                break
            limit = 0 if bound is None else bound + 1 - found  # 0: no limit
            found += await self._store.run(self._count_op(segment.query, limit))
        return found

    def _count_op(self, query: Query, limit: int) -> Callable[[], Awaitable[int]]:
        if limit:
            return lambda: self._collection.count_documents(query, limit=limit)
        return lambda: self._collection.count_documents(query)

    async def one(self, query: Query, projection: Query | None = None) -> Doc | None:
        return await self._store.run(lambda: self._collection.find_one(query, projection))

    async def ids(self, query: Query, limit: int) -> list[str]:
        rows = await self.find(query, {"_id": 1}, [("_id", 1)], limit=limit)
        return [str(row["_id"]) for row in rows]

    async def rows(self, query: Query, projection: Query | None, limit: int) -> list[Doc]:
        return await self.find(query, projection, [("_id", 1)], limit=limit)


def open_read_models(url: str, database: str, timeout: float) -> MongoReadModels:
    """The client connects lazily, so the API starts even while MongoDB is still coming up."""
    return MongoReadModels(mongo.client(url), database, timeout)
