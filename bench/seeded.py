"""Tasks loaded straight into MongoDB as the projector would have written them, and fed to
Flower as the Celery events that produce them: a quick way to a large history, for
benchmarks of a single reader (``bench.ui``). ``bench.api`` goes through the real pipeline.

The documents are bulk-inserted, then the indexes are built (far faster on SecantusDB than
inserting into indexed collections), then the projector's own sweep counts them (as a
rebuild does), so that lists, totals and the dashboard see them.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import redis
from pymongo import IndexModel, MongoClient
from tasktrail_api.domain import indexes as api_indexes
from tasktrail_projector.adapters.store import MongoStore
from tasktrail_projector.adapters.store import indexes as projector_indexes
from tasktrail_projector.domain.stats import slot_key
from tasktrail_projector.domain.tasks import slot_start
from tasktrail_projector.sweeps import Maintenance
from tasktrail_shared import mongo

from bench.api import NAMES, STATES, WORKERS, Task, events
from bench.firehose import envelope
from bench.ingest import flower_events


async def count(url: str, db: str) -> None:
    """Mark every slot the tasks name, register their clusters, and run the sweep."""
    store = MongoStore.open(url, db)
    try:
        await mongo.create_collections(store.db, (mongo.COUNTS, mongo.CHECKPOINTS))
        slots: set[str] = set()
        apps: set[str] = set()
        async for doc in store.db[mongo.TASKS].find({}, {"_slots": 1, "app": 1}):
            slots.update(slot_key(s) for s in doc.get("_slots") or [])
            apps.add(doc["app"])
        await store.register_apps(sorted(apps))
        await store.save_position("seeded", 0, sorted(slots))
        await Maintenance(store, consumer="seeded").sweep_stats(everything=True)
    finally:
        await store.close()


def make_tasks(n: int, seed: int = 1) -> list[Task]:
    rng = random.Random(seed)
    start = time.time() - n * 0.01
    return [
        Task(
            str(uuid.UUID(int=rng.getrandbits(128))),
            rng.choice(NAMES),
            rng.choice(STATES),
            rng.choice(WORKERS),
            start + i * 0.01,
            round(rng.uniform(0.001, 2.0), 6),
            f"cidr-{rng.randrange(100)}",
        )
        for i in range(n)
    ]


def _dt(epoch: float) -> datetime:
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def document(t: Task) -> dict[str, Any]:
    """A ``tasks`` document as the projector derives it from the events below."""
    received, started = t.sent + 0.002, t.sent + 0.003
    done = started + t.runtime
    ran = t.state in ("SUCCESS", "FAILURE", "STARTED")
    times = {
        "sent": _dt(t.sent),
        "received": _dt(received) if t.state != "PENDING" else None,
        "started": _dt(started) if ran else None,
        "succeeded": _dt(done) if t.state == "SUCCESS" else None,
        "failed": _dt(done) if t.state == "FAILURE" else None,
        "revoked": _dt(received) if t.state == "REVOKED" else None,
    }
    stamp = max(v for v in times.values() if v is not None)
    return {
        "_id": t.uuid, "uuid": t.uuid, "app": "bench", "name": t.name,
        "args": f"('{t.cidr}', 8080, 'http')", "kwargs": "{}", "retries": 0, "eta": None,
        "expires": None, "root_id": t.uuid, "parent_id": None, "queue": "celery",
        "exchange": "", "routing_key": "celery",
        "worker": t.worker if t.state != "PENDING" else None,
        "result": "'ok'" if t.state == "SUCCESS" else None,
        "runtime": t.runtime if t.state == "SUCCESS" else None,
        "exception": "ValueError('x')" if t.state == "FAILURE" else None,
        "traceback": "Traceback ..." if t.state == "FAILURE" else None,
        **times, "retried": None, "rejected": None, "state": t.state, "timestamp": stamp,
        "finished": stamp if t.state in ("SUCCESS", "FAILURE", "REVOKED") else None,
        "revoke": None, "children": [], "labels": {"cidr_id": t.cidr}, "cidr_id": t.cidr,
        "cidr_ip_network": None, "asn_id": None, "asn_number": None, "deleted": False,
        "lost": False, "published": True, "_slots": [slot_start(_dt(t.sent))],
        "_events": {}, "_records": {}, "_amend": {}, "_v": 1,
    }  # fmt: skip


def load_mongo(url: str, db: str, tasks: list[Task]) -> float:
    started = time.perf_counter()
    client: MongoClient[dict[str, Any]] = MongoClient(url, tz_aware=True)
    try:
        coll = client[db].tasks
        for i in range(0, len(tasks), 5000):
            coll.insert_many([document(t) for t in tasks[i : i + 5000]], ordered=False)
        for collection, models in projector_indexes().items():  # what production has
            client[db][collection].create_indexes(models)
        asyncio.run(count(url, db))
        indexes = {"tasks": api_indexes.TASK_INDEXES, "workers": api_indexes.WORKER_INDEXES}
        for collection, specs in indexes.items():
            client[db][collection].create_indexes(
                [IndexModel(s["keys"], name=n) for n, s in specs.items()]
            )
    finally:
        client.close()
    return time.perf_counter() - started


def feed_flower(redis_url: str, flower_port: int, tasks: list[Task], backlog: int = 5_000) -> int:
    """Publish every event; never more than ``backlog`` ahead of what Flower has counted
    (Redis drops pub/sub messages for a subscriber whose buffer overflows: 8 MB for a
    minute by default). Should Flower lose some anyway, it stops waiting once Flower has
    taken nothing for :data:`STALL` seconds and says how many it lost."""
    r = redis.Redis.from_url(redis_url)
    prefix = "/0.celeryev/"
    sent = 0
    pipe = r.pipeline(transaction=False)
    for clock, task in enumerate(tasks):
        for key, event in events(task, clock):
            host = event["hostname"]
            pipe.publish(prefix + key, envelope(key, event, host))
            sent += 1
        if len(pipe) >= 1000:
            pipe.execute()
            _wait_flower(flower_port, sent - backlog)
    pipe.execute()
    taken = _wait_flower(flower_port, sent)
    if taken < sent:
        print(f"Flower lost {sent - taken:,} of {sent:,} events", flush=True)
    return sent


STALL = 30.0


def _wait_flower(port: int, until: int) -> int:
    """What Flower has counted once it reaches ``until``, or stalls."""
    taken, moved = max(flower_events(port), 0), time.monotonic()
    while taken < until and time.monotonic() - moved < STALL:
        time.sleep(0.2)
        now = max(flower_events(port), 0)
        if now > taken:
            taken, moved = now, time.monotonic()
    return taken


def timings(call: Callable[[], httpx.Response], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        response = call()
        samples.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]
