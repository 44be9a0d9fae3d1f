"""MongoDB read-model store: versioned bulk writes, idempotent appends, sweeps, indexes.

pymongo errors are translated at this edge into the service's two outcomes: the store is
unavailable (retry the batch later) or it refused the data (isolate the message). A
duplicate key is neither: for versioned writes it means the version moved (another replica
won the race, or a document assumed new already existed), and for appends it means the
document is already there.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from bson.errors import InvalidDocument
from pymongo import (
    ASCENDING,
    DESCENDING,
    AsyncMongoClient,
    DeleteMany,
    IndexModel,
    InsertOne,
    ReplaceOne,
    UpdateOne,
)
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DocumentTooLarge, OperationFailure, PyMongoError
from tasktrail_shared import counts, mongo
from tasktrail_shared.counts import TOTAL
from tasktrail_shared.fields import SEED_LABELS, label_index

from tasktrail_projector.domain.lost import Flip
from tasktrail_projector.ports import Doc, RejectedWrite, StoreUnavailable, Write

STATS = mongo.STATS
STATS_SLOTS = mongo.STATS_SLOTS
READ_MODELS = (
    mongo.COUNTS,
    mongo.TASKS,
    mongo.WORKERS,
    mongo.CATALOG,
    mongo.TASK_EVENTS,
    mongo.DEAD_LETTERS,
    STATS,
    STATS_SLOTS,
    mongo.ORGS,
    mongo.CLUSTERS,
    mongo.SCHEDULERS,
    mongo.SCHEDULE_JOBS,
    mongo.SCHEDULE_RUNS,
    mongo.QUEUE_DEPTHS,
)
DUPLICATE_KEY = 11000
DATA_ERRORS = frozenset({2, 9, 10334, 14, 17280, 17419, 52, 55, 56, 57})
"""Server codes that mean "this document is bad" (BadValue, too large, bad field names...)."""
DAY = 86400
TASK_TTL_INDEX = "finished_ttl"
EVENT_TTL_INDEX = "timestamp_ttl"
SLOT_TTL_INDEX = "slot_ttl"
QUEUE_TTL_INDEX = "measured_ttl"
QUEUE_TTL_DAYS = 1
"""A queue not measured for a day (gone from the broker and from every worker) is dropped."""


def indexes(labels: Sequence[str] = ()) -> dict[str, list[IndexModel]]:
    """The indexes the projector needs; ``labels`` are the configured label names.

    Only what the projector's own reads use, plus the label indexes: the API creates the
    indexes behind its filters and sorts. Every index costs each write (the embedded
    server rewrites all of a document's index entries on every update), so none is doubled.
    """
    label_names = sorted(set(labels) - set(SEED_LABELS))  # the API indexes the seed's four
    return {
        mongo.TASKS: [
            IndexModel([("worker", ASCENDING), ("state", ASCENDING)]),  # lost-task sweep
            IndexModel([("_slots", ASCENDING)]),  # stats recomputation
            *(IndexModel(label_index(n)[1], name=label_index(n)[0]) for n in label_names),
        ],
        mongo.TASK_EVENTS: [IndexModel([("uuids", ASCENDING), ("timestamp", ASCENDING)])],
        STATS: [
            IndexModel([("minute", ASCENDING)]),
            IndexModel([("app", ASCENDING), ("minute", ASCENDING)]),
        ],
        STATS_SLOTS: [IndexModel([("slot", ASCENDING)])],  # its TTL twin: see ensure_indexes
        mongo.COUNTS: [IndexModel([("level", ASCENDING), ("at", ASCENDING)])],
        mongo.SCHEDULERS: [IndexModel([("org", ASCENDING), ("alias", ASCENDING)])],
        mongo.SCHEDULE_JOBS: [IndexModel([("scheduler", ASCENDING), ("job_id", ASCENDING)])],
        mongo.SCHEDULE_RUNS: [
            IndexModel([("job", ASCENDING), ("kind", ASCENDING)]),  # counts
            IndexModel([("job", ASCENDING), ("time", DESCENDING), ("_id", DESCENDING)]),  # pages
            IndexModel([("celery_task_id", ASCENDING)], sparse=True),  # beat's outcomes
        ],
    }


def unfinished_on(worker: str, states: Sequence[str]) -> dict[str, Any]:
    """The lost-task sweep's read of one worker's tasks in ``states``."""
    return {"worker": worker, "state": {"$in": list(states)}}


def _period(level: str, start: datetime | None, end: datetime | None) -> dict[str, Any]:
    """The counters of ``level`` whose period starts in ``[start, end)`` (all: ``None``)."""
    query: dict[str, Any] = {"level": level}
    if start is not None and end is not None:
        query["at"] = {"$gte": start, "$lt": end}
    return query


def of_slot(slot: datetime) -> dict[str, Any]:
    """The counters' and stats' read of the tasks naming ``slot``."""
    return {"_slots": slot}


@contextmanager
def _translated(what: str) -> Iterator[None]:
    try:
        yield
    except (InvalidDocument, DocumentTooLarge, OverflowError) as exc:
        raise RejectedWrite(f"{what}: {exc}") from exc
    except OperationFailure as exc:
        if exc.code in DATA_ERRORS:
            raise RejectedWrite(f"{what}: {exc}") from exc
        raise StoreUnavailable(f"{what}: {exc}") from exc
    except PyMongoError as exc:
        raise StoreUnavailable(f"{what}: {exc}") from exc


def _write_errors(exc: BulkWriteError) -> list[dict[str, Any]]:
    """The duplicate-key errors of a bulk write; anything else is raised."""
    errors: list[dict[str, Any]] = exc.details.get("writeErrors") or []
    if exc.details.get("writeConcernErrors"):
        raise StoreUnavailable(f"write concern failed: {exc.details['writeConcernErrors']}")
    refused = [e for e in errors if e.get("code") != DUPLICATE_KEY]
    if refused:
        raise RejectedWrite(f"{len(refused)} documents refused, e.g. {refused[0].get('errmsg')}")
    return errors


def _fields(names: Sequence[str]) -> dict[str, int]:
    projection = dict.fromkeys(names, 1)
    projection.setdefault("_id", 1)
    return projection


class MongoStore:
    """Implements :class:`tasktrail_projector.ports.Store` on one database."""

    def __init__(self, client: AsyncMongoClient[Doc], database: str) -> None:
        self.client = client
        self.db: AsyncDatabase[Doc] = client[database]

    @classmethod
    def open(cls, url: str, database: str) -> MongoStore:
        return cls(mongo.client(url), database)

    async def close(self) -> None:
        await self.client.close()

    async def ping(self) -> bool:
        try:
            await self.client.admin.command("ping")
        except PyMongoError:
            return False
        return True

    async def ensure_indexes(
        self,
        labels: Sequence[str] = (),
        task_ttl_days: float = 0,
        event_ttl_days: float = 0,
        stats_window_days: float = 0,
    ) -> None:
        """Create the indexes, and make the TTL indexes match the retention settings."""
        with _translated("create indexes"):
            await mongo.create_collections(self.db, (*READ_MODELS, mongo.CHECKPOINTS))
            for collection, models in indexes(labels).items():
                await self.db[collection].create_indexes(models)
            await self._ttl(mongo.TASKS, TASK_TTL_INDEX, "finished", task_ttl_days)
            await self._ttl(mongo.TASK_EVENTS, EVENT_TTL_INDEX, "timestamp", event_ttl_days)
            # slot tallies are only read to recompute recent minutes
            await self._ttl(STATS_SLOTS, SLOT_TTL_INDEX, "at", stats_window_days)
            await self._ttl(mongo.QUEUE_DEPTHS, QUEUE_TTL_INDEX, "measured_at", QUEUE_TTL_DAYS)

    async def _ttl(self, collection: str, name: str, field: str, days: float) -> None:
        existing = (await self.db[collection].index_information()).get(name)
        seconds = int(days * DAY)
        if seconds <= 0:
            if existing is not None:
                await self.db[collection].drop_index(name)
            return
        if existing is None:
            model = IndexModel([(field, ASCENDING)], name=name, expireAfterSeconds=seconds)
            await self.db[collection].create_indexes([model])
        elif existing.get("expireAfterSeconds") != seconds:
            await self.db.command(
                "collMod", collection, index={"name": name, "expireAfterSeconds": seconds}
            )

    async def is_empty(self) -> bool:
        """True if no read-model collection holds a document (a rebuild's precondition)."""
        with _translated("inspect database"):
            for collection in (*READ_MODELS, mongo.CHECKPOINTS):
                if await self.db[collection].find_one({}, {"_id": 1}) is not None:
                    return False
        return True

    async def load(self, collection: str, ids: Sequence[str]) -> dict[str, Doc]:
        with _translated(f"load {collection}"):
            cursor = self.db[collection].find({"_id": {"$in": list(ids)}})
            return {doc["_id"]: doc async for doc in cursor}

    async def write(self, collection: str, writes: Sequence[Write]) -> list[str]:
        """One unordered bulk write: inserts for new documents, conditional replacements
        for known ones.

        A replacement matches on ``_id`` alone (the fast path of every MongoDB-wire server)
        and swaps the document only if its ``_v`` is still the one we read, in one atomic
        pipeline update. An insert that finds the ``_id`` taken reports its position. When
        fewer replacements than sent changed a document, which ones lost is not reported
        per operation, so all of them are returned: re-folding the winners is harmless.
        """
        ops: list[InsertOne[Doc] | UpdateOne] = []
        replaced: list[str] = []
        for w in writes:
            if w.expected is None:
                ops.append(InsertOne({**w.doc, "_v": 1}))
                continue
            new = {**w.doc, "_v": w.expected + 1}
            still = {"$eq": [{"$ifNull": ["$_v", 0]}, w.expected]}
            swap = {"$replaceWith": {"$cond": [still, {"$literal": new}, "$$ROOT"]}}
            ops.append(UpdateOne({"_id": w.doc["_id"]}, [swap]))
            replaced.append(w.doc["_id"])
        with _translated(f"write {collection}"):
            try:
                result = await self.db[collection].bulk_write(ops, ordered=False)
                modified = result.modified_count
                lost = []
            except BulkWriteError as exc:
                lost = [writes[e["index"]].doc["_id"] for e in _write_errors(exc)]
                modified = int(exc.details.get("nModified", 0))
        return lost + replaced if modified < len(replaced) else lost

    async def append(self, collection: str, docs: Sequence[Doc]) -> None:
        if not docs:
            return
        with _translated(f"append {collection}"):
            try:
                await self.db[collection].insert_many(list(docs), ordered=False)
            except BulkWriteError as exc:
                _write_errors(exc)

    async def register_apps(self, apps: Sequence[str]) -> None:
        if not apps:
            return
        ops = [
            UpdateOne(
                {"_id": counts.document_id(TOTAL, app, None)},
                {"$setOnInsert": counts.document(TOTAL, app, None, {})},
                upsert=True,
            )
            for app in apps
        ]
        with _translated("register clusters"):
            await self.db[mongo.COUNTS].bulk_write(ops, ordered=False)

    async def save_position(self, consumer: str, seq: int, marks: Sequence[str]) -> None:
        """One upsert of the consumer's document in ``checkpoints``: ``seq`` and the marks."""
        update: dict[str, Any] = {
            "$max": {"seq": seq},
            "$set": {"updated": datetime.now(UTC)},
        }
        if marks:
            update["$inc"] = {f"dirty.{key}": 1 for key in marks}
        with _translated("save position"):
            await self.db[mongo.CHECKPOINTS].update_one({"_id": consumer}, update, upsert=True)

    async def marks(self, consumer: str) -> dict[str, int]:
        with _translated("read stats marks"):
            doc = await self.db[mongo.CHECKPOINTS].find_one({"_id": consumer}, {"dirty": 1})
        marks = (doc or {}).get("dirty") or {}
        return {str(k): int(v) for k, v in marks.items()}

    async def clear_mark(self, consumer: str, key: str, generation: int) -> None:
        with _translated("clear stats mark"):
            await self.db[mongo.CHECKPOINTS].update_one(
                {"_id": consumer, f"dirty.{key}": generation}, {"$unset": {f"dirty.{key}": ""}}
            )

    async def slot_tasks(self, slot: datetime, fields: Sequence[str]) -> list[Doc]:
        with _translated("read tasks of a slot"):
            cursor = self.db[mongo.TASKS].find(of_slot(slot), _fields(fields))
            return [doc async for doc in cursor]

    async def put_tallies(self, slot: datetime, docs: Sequence[Doc]) -> None:
        await self._replace(STATS_SLOTS, "slot", slot, docs)

    async def minute_tallies(self, minute: datetime) -> list[Doc]:
        with _translated("read stats tallies"):
            query = {"slot": {"$gte": minute, "$lt": minute + timedelta(minutes=1)}}
            return [doc async for doc in self.db[STATS_SLOTS].find(query)]

    async def put_buckets(self, minute: datetime, docs: Sequence[Doc]) -> None:
        await self._replace(STATS, "minute", minute, docs)

    async def _replace(
        self,
        collection: str,
        field: str,
        moment: datetime,
        docs: Sequence[Doc],
        where: dict[str, Any] | None = None,
    ) -> None:
        """Make ``docs`` the documents of ``collection`` whose ``field`` is ``moment`` (and
        that match ``where``).

        The ones to drop are found by an indexed read of the ids held at ``moment``, then
        deleted by ``_id`` alone: the embedded server ignores every index for a filter that
        puts an operator on ``_id`` beside other fields (``_id: {$nin: [...]}``), so such a
        delete decoded the whole collection, on every sweep, at a cost that grew with the
        history (see docs/decisions/0020)."""
        scope = {**(where or {}), field: moment}
        keep = {d["_id"] for d in docs}
        ops: list[ReplaceOne[Doc] | DeleteMany] = [
            ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs
        ]
        with _translated(f"write {collection}"):
            held = [d["_id"] async for d in self.db[collection].find(scope, {"_id": 1})]
            gone = [doc_id for doc_id in held if doc_id not in keep]
            if gone:
                ops.append(DeleteMany({"_id": {"$in": gone}}))
            if ops:
                await self.db[collection].bulk_write(ops, ordered=False)

    async def count_tallies(
        self, level: str, start: datetime | None, end: datetime | None
    ) -> list[Doc]:
        with _translated("read counters"):
            return [doc async for doc in self.db[mongo.COUNTS].find(_period(level, start, end))]

    async def count_stamps(
        self, level: str, start: datetime | None, end: datetime | None
    ) -> list[Doc]:
        query, fields = _period(level, start, end), {"_id": 1, "app": 1, "stamp": 1}
        with _translated("read counter stamps"):
            return [doc async for doc in self.db[mongo.COUNTS].find(query, fields)]

    async def stamp_counts(self, stamps: Mapping[str, str]) -> None:
        ops = [
            UpdateOne({"_id": doc_id, "stamp": None}, {"$set": {"stamp": stamp}})
            for doc_id, stamp in stamps.items()
        ]
        if ops:
            with _translated("stamp counters"):
                await self.db[mongo.COUNTS].bulk_write(ops, ordered=False)

    async def put_counts(self, level: str, at: datetime | None, docs: Sequence[Doc]) -> None:
        if at is not None:
            await self._replace(mongo.COUNTS, "at", at, docs, {"level": level})
            return
        if docs:
            ops = [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in docs]
            with _translated("write counters"):
                await self.db[mongo.COUNTS].bulk_write(ops, ordered=False)

    async def workers(self, fields: Sequence[str]) -> list[Doc]:
        with _translated("read workers"):
            return [doc async for doc in self.db[mongo.WORKERS].find({}, _fields(fields))]

    async def unfinished_tasks(
        self, workers: Sequence[str], states: Sequence[str], fields: Sequence[str]
    ) -> list[Doc]:
        """One read per worker: an equality on ``worker`` is what walks the ``(worker,
        state)`` index; the embedded server scans the whole collection for ``worker: {$in}``
        (as for a filter on ``state`` alone)."""
        found: list[Doc] = []
        with _translated("read unfinished tasks"):
            for worker in workers:
                query = unfinished_on(worker, states)
                found += [doc async for doc in self.db[mongo.TASKS].find(query, _fields(fields))]
        return found

    async def flag(self, flips: Sequence[Flip]) -> int:
        if not flips:
            return 0
        ops = [
            UpdateOne({"_id": f.task_id, **f.expect}, {"$set": {"lost": f.lost}, "$inc": {"_v": 1}})
            for f in flips
        ]
        with _translated("flag lost tasks"):
            result = await self.db[mongo.TASKS].bulk_write(ops, ordered=False)
        return int(result.modified_count)

    # --- scheduled jobs ---------------------------------------------------------------------

    async def job_ids(self, scheduler: str) -> list[str]:
        with _translated("read jobs of a scheduler"):
            cursor = self.db[mongo.SCHEDULE_JOBS].find({"scheduler": scheduler}, {"_id": 1})
            return [str(doc["_id"]) async for doc in cursor]

    async def count_runs(self, jobs: Sequence[str]) -> list[Doc]:
        pipeline: list[Doc] = [
            {"$match": {"job": {"$in": list(jobs)}}},
            {"$group": {"_id": {"job": "$job", "kind": "$kind"}, "n": {"$sum": 1}}},
        ]
        with _translated("count runs"):
            cursor = await self.db[mongo.SCHEDULE_RUNS].aggregate(pipeline)
            rows = await cursor.to_list()
        return [{"job": r["_id"]["job"], "kind": r["_id"]["kind"], "n": r["n"]} for r in rows]

    async def schedulers(self) -> list[Doc]:
        with _translated("read schedulers"):
            return [doc async for doc in self.db[mongo.SCHEDULERS].find({}, {"_latest": 0})]

    async def active_jobs(self) -> list[Doc]:
        with _translated("read jobs"):
            cursor = self.db[mongo.SCHEDULE_JOBS].find({"active": True}, {"_latest": 0})
            return [doc async for doc in cursor]

    async def task_submissions(self, since: datetime, limit: int) -> list[Doc]:
        query = {
            "kind": "submitted",
            "celery_task_id": {"$exists": True},
            "received": {"$gte": since},
        }
        with _translated("read task submissions"):
            cursor = self.db[mongo.SCHEDULE_RUNS].find(query).sort([("received", ASCENDING)])
            return [doc async for doc in cursor.limit(limit)]

    async def task_outcomes(self, task_ids: Sequence[str]) -> set[str]:
        query = {"celery_task_id": {"$in": list(task_ids)}, "kind": {"$ne": "submitted"}}
        with _translated("read task outcomes"):
            cursor = self.db[mongo.SCHEDULE_RUNS].find(query, {"celery_task_id": 1})
            return {str(doc["celery_task_id"]) async for doc in cursor}

    async def tasks_by_id(self, task_ids: Sequence[str], fields: Sequence[str]) -> list[Doc]:
        with _translated("read tasks"):
            cursor = self.db[mongo.TASKS].find({"_id": {"$in": list(task_ids)}}, _fields(fields))
            return [doc async for doc in cursor]
