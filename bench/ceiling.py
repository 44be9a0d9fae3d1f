"""Task writes per second the embedded MongoDB-wire server takes, by the number of indexes on
``tasks``: the ceiling under every projection and freshness figure measured on it.

Task documents shaped as the projector writes them (``bench.seeded``) are inserted in bulks
of 250 (a new task), then each is replaced once (a task that changed: what a later event
costs) into a fresh collection holding the first *k* of the indexes a deployment has (the
projector's, then the API's), for several *k*. SecantusDB rewrites every index entry of a
document on each write, in Python, so the cost of a task write grows with the index count;
MongoDB pays far less per index. The last column is the Celery events/s that rate of new
tasks sustains when each task's four events (sent, received, started, succeeded) cost one
write, and nothing else touches the server.

    python -m bench.ceiling [--tasks 2000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from pymongo import IndexModel, MongoClient, ReplaceOne
from tasktrail_api.domain import indexes as api_indexes
from tasktrail_devstack.servers import MongoServer
from tasktrail_projector.adapters.store import indexes as projector_indexes
from tasktrail_shared import mongo

from bench.seeded import document, make_tasks

BULK = 250
EVENTS_PER_TASK = 4


def deployed() -> list[IndexModel]:
    """Every index of ``tasks`` as deployed: the projector's, then the API's."""
    api = [IndexModel(s["keys"], name=n) for n, s in api_indexes.TASK_INDEXES.items()]
    return [*projector_indexes()[mongo.TASKS], *api]


def rates(
    client: MongoClient[dict[str, Any]], k: int, docs: list[dict[str, Any]]
) -> tuple[float, float]:
    """Inserts/s and replaces/s of ``docs`` into a collection with the first ``k`` indexes."""
    collection = client[f"ceiling_{k}"].tasks
    client[f"ceiling_{k}"].create_collection("tasks")
    if k:
        collection.create_indexes(deployed()[:k])
    started = time.perf_counter()
    for i in range(0, len(docs), BULK):
        collection.insert_many(docs[i : i + BULK], ordered=False)
    inserted = time.perf_counter()
    for i in range(0, len(docs), BULK):
        changed = [{**d, "state": "SUCCESS", "_v": 2} for d in docs[i : i + BULK]]
        collection.bulk_write([ReplaceOne({"_id": d["_id"]}, d) for d in changed], ordered=False)
    replaced = time.perf_counter()
    return len(docs) / (inserted - started), len(docs) / (replaced - inserted)


def main(argv: list[str] | None = None) -> None:
    cli = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__)
    cli.add_argument("--tasks", type=int, default=2000, help="tasks written per index count")
    args = cli.parse_args(argv)
    docs = [document(t) for t in make_tasks(args.tasks)]
    total = len(deployed())
    counts = sorted({0, 1, 4, 8, total // 2, total})
    print(f"{args.tasks:,} task writes per row; {total} indexes on tasks as deployed (+ _id)")
    print(f"{'indexes':>8} {'inserts/s':>10} {'replaces/s':>11} {'events/s (4 per task)':>22}")
    with MongoServer(Path(tempfile.mkdtemp(prefix="bench-ceiling-")) / "mongo") as server:
        client: MongoClient[dict[str, Any]] = MongoClient(server.url, tz_aware=True)
        for k in counts:
            inserts, replaces = rates(client, k, docs)
            print(
                f"{k + 1:>8} {inserts:>10,.0f} {replaces:>11,.0f} "
                f"{inserts * EVENTS_PER_TASK:>22,.0f}",
                flush=True,
            )
        client.close()


if __name__ == "__main__":
    main()
