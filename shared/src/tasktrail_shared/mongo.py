"""MongoDB adapter: one async client per process, the read-model collection names, and
the one way a service creates the collections it writes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import CollectionInvalid

TASKS = "tasks"
WORKERS = "workers"
TASK_EVENTS = "task_events"
DEAD_LETTERS = "dead_letters"
CHECKPOINTS = "checkpoints"
"""The projector's position per durable consumer (and its stats marks), one document each."""
STATS = "stats"
"""Per-minute buckets of the dashboard's throughput and latency series."""
STATS_SLOTS = "stats_slots"
"""Internal to the projector: the 2-second slot tallies the minute buckets are summed from."""
COUNTS = "counts"
"""Task counters per cluster, state, name, worker and queue (``tasktrail_shared.counts``)."""
TOKENS = "tokens"
"""The API's token digests."""
CATALOG = "catalog"
"""The task catalog: one document per task name of a cluster (``tasktrail_shared.catalog``)."""
CATALOG_KEYS = "catalog_keys"
"""The API's secret keys of catalog entries: credentials, kept like tokens, never in the log."""
ORGS = "orgs"
"""Organisations, one document per slug, folded from ``tasktrail.org.created``."""
CLUSTERS = "clusters"
"""Which organisation owns each cluster that was given to one (``tasktrail.org.cluster_assigned``);
a cluster absent here belongs to the default organisation."""
SCHEDULERS = "schedulers"
"""Schedulers (APScheduler, Celery beat) by organisation and alias (``tasktrail.schedule.*``)."""
SCHEDULE_JOBS = "schedule_jobs"
"""Their jobs: what runs when, its counts and health."""
SCHEDULE_RUNS = "schedule_runs"
"""One document per run event of a job (submitted, executed, error, missed, max instances)."""
QUEUE_DEPTHS = "queue_depths"
"""The latest depth of each broker queue of a cluster and its per-minute trend
(``tasktrail_shared.queues``)."""


def client(url: str) -> AsyncMongoClient[dict[str, Any]]:
    return AsyncMongoClient(url, tz_aware=True, serverSelectionTimeoutMS=5000)


async def create_collections(db: AsyncDatabase[Any], names: Iterable[str]) -> None:
    """Create the missing ones of ``names``; every writer calls this before its first write.

    An insert or upsert into a missing collection creates it implicitly. On the embedded
    MongoDB-wire server (SecantusDB) that implicit creation can deadlock with a concurrent
    ``createIndexes`` on the same new collection (seen: the API building its indexes while
    the projector wrote its first document), and the server then spins for good. An
    explicit ``create`` is serialised with every other DDL, so no write ever creates one.
    """
    existing = set(await db.list_collection_names())
    for name in names:
        if name not in existing:
            with contextlib.suppress(CollectionInvalid):  # another service was first
                await db.create_collection(name)
