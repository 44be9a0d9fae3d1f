"""Read access to the projector's MongoDB collections, and the API tokens next to them.

Every operation is bounded by pymongo's own timeout (``pymongo.timeout``) and is never
cancelled from outside: a cancelled operation can leave the async client's topology lock
released twice (``RuntimeError: Lock is not acquired``), after which every later operation
hangs. So each one runs as a task of its own that the caller awaits through
``asyncio.shield``: a client that goes away (or a test client's deadline) cancels the wait,
not the operation. A lost connection or a timeout becomes a 503 envelope; any other driver
error is a bug and stays a 500.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import pymongo
from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, DuplicateKeyError, PyMongoError
from tasktrail_shared import mongo

from tasktrail_api import queries
from tasktrail_api.errors import conflict, unavailable

Doc = dict[str, Any]
TOKENS = mongo.TOKENS
T = TypeVar("T")


def _unavailable(exc: PyMongoError) -> bool:
    return isinstance(exc, ConnectionFailure) or exc.timeout


def _consume(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()


class ReadModels:
    def __init__(self, client: AsyncMongoClient[Doc], database: str, timeout: float) -> None:
        self._client = client
        self._db: AsyncDatabase[Doc] = client[database]
        self._timeout = timeout
        self._pending: set[asyncio.Task[Any]] = set()

    async def close(self) -> None:
        """Let detached operations finish (never cancel them), then close the client."""
        if self._pending:
            await asyncio.wait(self._pending)
        await self._client.close()

    async def _run(self, op: Callable[[], Awaitable[T]], timeout: float | None = None) -> T:
        limit = self._timeout if timeout is None else timeout

        async def bounded() -> T:
            with pymongo.timeout(limit):
                try:
                    return await op()
                except PyMongoError as exc:
                    if _unavailable(exc):
                        raise unavailable("the read-model store is unavailable") from exc
                    raise

        task = asyncio.ensure_future(bounded())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        task.add_done_callback(_consume)
        return await asyncio.shield(task)

    async def ensure_indexes(self, timeout: float = 600) -> None:
        """Create the indexes behind every filter and sort the API offers (idempotent).

        The API owns its query shapes, so it owns their indexes; the projector creates the
        ones its own writes need. A quick ping first: with MongoDB away this gives up within
        the read timeout instead of holding the shutdown for the whole build timeout.
        """
        await self.ping(self._timeout)
        for collection, specs in (
            (mongo.TASKS, queries.TASK_INDEXES),
            (mongo.WORKERS, queries.WORKER_INDEXES),
            (mongo.TASK_EVENTS, queries.EVENT_INDEXES),
        ):
            models = [
                IndexModel(
                    spec["keys"], name=name, **{k: v for k, v in spec.items() if k != "keys"}
                )
                for name, spec in specs.items()
            ]
            await self._run(self._index_op(self._db[collection], models), timeout)

    @staticmethod
    def _index_op(
        target: AsyncCollection[Doc], models: list[IndexModel]
    ) -> Callable[[], Awaitable[list[str]]]:
        return lambda: target.create_indexes(models)

    async def ping(self, timeout: float) -> None:
        """Raises unless MongoDB answers within ``timeout`` seconds."""
        await self._run(lambda: self._client.admin.command("ping"), timeout)

    # --- generic reads --------------------------------------------------------------------

    async def find(
        self,
        collection: str,
        query: queries.Query,
        projection: queries.Query | None,
        sort: queries.SortSpec,
        *,
        limit: int,
        skip: int = 0,
    ) -> list[Doc]:
        async def op() -> list[Doc]:
            cursor = self._db[collection].find(query, projection).sort(sort)
            return await cursor.skip(skip).limit(limit).to_list()

        return await self._run(op)

    async def count(self, collection: str, query: queries.Query) -> int:
        return await self._run(lambda: self._db[collection].count_documents(query))

    async def find_segments(
        self,
        collection: str,
        segments: Sequence[queries.Segment],
        projection: queries.Query | None,
        limit: int,
    ) -> list[Doc]:
        """Read ``segments`` in order until ``limit`` rows are found (see ``queries``)."""
        rows: list[Doc] = []
        for segment in segments:
            if len(rows) >= limit:
                break
            rows += await self.find(
                collection, segment.query, projection, segment.sort, limit=limit - len(rows)
            )
        return rows

    async def page(
        self,
        collection: str,
        count_query: queries.Query,
        read: Awaitable[list[Doc]],
    ) -> tuple[list[Doc], int]:
        """A page and the total count, read at the same time."""
        rows, total = await asyncio.gather(read, self.count(collection, count_query))
        return rows, total

    async def one(
        self, collection: str, query: queries.Query, projection: queries.Query | None = None
    ) -> Doc | None:
        return await self._run(lambda: self._db[collection].find_one(query, projection))

    async def get_task(self, task_id: str, projection: queries.Query | None = None) -> Doc | None:
        """The task document whatever its ``deleted`` flag: callers decide what it means."""
        return await self.one(mongo.TASKS, queries.task_by_id(task_id), projection)

    async def get_worker(
        self, worker_id: str, projection: queries.Query | None = None
    ) -> Doc | None:
        return await self.one(mongo.WORKERS, queries.worker_by_id(worker_id), projection)

    async def ids(self, collection: str, query: queries.Query, limit: int) -> list[str]:
        rows = await self.find(collection, query, {"_id": 1}, [("_id", 1)], limit=limit)
        return [str(row["_id"]) for row in rows]

    async def aggregate(self, collection: str, pipeline: list[queries.Query]) -> list[Doc]:
        async def op() -> list[Doc]:
            cursor = await self._db[collection].aggregate(pipeline)
            return await cursor.to_list()

        return await self._run(op)

    async def dashboard_rows(
        self, task_pipeline: list[queries.Query], worker_pipeline: list[queries.Query]
    ) -> tuple[list[Doc], list[Doc]]:
        tasks, workers = await asyncio.gather(
            self.aggregate(mongo.TASKS, task_pipeline),
            self.aggregate(mongo.WORKERS, worker_pipeline),
        )
        return tasks, workers

    async def history(
        self, message: queries.Query, entry: queries.Query, direction: int, skip: int, limit: int
    ) -> tuple[list[Doc], int]:
        """History entries (each an unwound message: ``events`` is the entry) and their count."""
        rows, counted = await asyncio.gather(
            self.aggregate(
                mongo.TASK_EVENTS, queries.history_pipeline(message, entry, direction, skip, limit)
            ),
            self.aggregate(mongo.TASK_EVENTS, queries.history_count(message, entry)),
        )
        return rows, int(counted[0]["n"]) if counted else 0

    async def export_events(
        self, query: queries.Query, chunk: int = 500
    ) -> AsyncIterator[list[Doc]]:
        """Every matching history message in ``(timestamp, _id)`` order, a chunk at a time,
        each chunk one bounded read (keyset, never a long-lived server cursor)."""
        rows = await self.find(mongo.TASK_EVENTS, query, None, queries.EVENT_SORT, limit=chunk)
        while rows:
            yield rows
            if len(rows) < chunk:
                return
            segments = queries.events_after(query, rows[-1])
            rows = await self.find_segments(mongo.TASK_EVENTS, segments, None, chunk)

    # --- tokens ---------------------------------------------------------------------------

    async def get_token(self, digest: str) -> Doc | None:
        return await self.one(TOKENS, {"_id": digest})

    async def add_token(self, digest: str, name: str, role: str, by: str, at: datetime) -> None:
        """Store a token's digest; names are unique (the handle to revoke it by)."""
        tokens = self._db[TOKENS]

        async def op() -> None:
            await tokens.create_indexes([IndexModel([("name", 1)], unique=True, name="name")])
            doc = {"_id": digest, "name": name, "role": role, "created": at, "created_by": by}
            try:
                await tokens.insert_one(doc)
            except DuplicateKeyError as exc:
                raise conflict(f"a token named {name!r} exists; revoke it first") from exc

        await self._run(op)

    async def list_tokens(self) -> list[Doc]:
        return await self.find(TOKENS, {}, {"_id": 0}, [("name", 1)], limit=10_000)

    async def remove_token(self, name: str) -> bool:
        result = await self._run(lambda: self._db[TOKENS].delete_one({"name": name}))
        return bool(result.deleted_count)


def open_read_models(url: str, database: str, timeout: float) -> ReadModels:
    """The client connects lazily, so the API starts even while MongoDB is still coming up."""
    return ReadModels(mongo.client(url), database, timeout)
