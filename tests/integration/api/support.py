"""Seeding helpers: read-model documents as the projector writes them (internal fields
included, to prove they never leak) and API tokens as stored."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.adapters.readmodels import MongoReadModels
from tasktrail_projector.adapters.store import READ_MODELS, MongoStore
from tasktrail_projector.bootstrap import Projection, bootstrap
from tasktrail_projector.domain.stats import slot_key
from tasktrail_projector.domain.tasks import slot_start
from tasktrail_projector.settings import Settings as ProjectorSettings
from tasktrail_projector.sweeps import Maintenance
from tasktrail_shared import mongo

Doc = dict[str, Any]
ADMIN_TOKEN = "admin-secret-token"


@contextlib.asynccontextmanager
async def projecting(
    nats_url: str,
    nats_stream: str,
    mongo_url: str,
    db: AsyncDatabase[Doc],
    app: str,
    **tuning: Any,
) -> AsyncIterator[Projection]:
    """The real projector, in-process on this test's stream and database (with the API's
    indexes), fetching every 50 ms so that writes project at once; ``tuning``: more of its
    settings."""
    projection = await bootstrap(
        ProjectorSettings(
            nats_url=nats_url, mongo_url=mongo_url, mongo_db=db.name, stream=nats_stream,
            app=app, projector_health_port=0, projector_fetch_timeout=0.05, **tuning,
        )
    )  # fmt: skip
    await create_api_indexes(db)
    stop = asyncio.Event()
    running = asyncio.create_task(projection.run(stop))
    try:
        yield projection
    finally:
        stop.set()
        await running
        await projection.close()


async def create_api_indexes(db: AsyncDatabase[Doc]) -> None:
    """The indexes the API creates at start-up, created now rather than in the background."""
    await MongoReadModels(db.client, db.name, timeout=60).ensure_indexes()


async def add_token(db: AsyncDatabase[Doc], token: str, name: str, role: str) -> None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    await db.tokens.insert_one({"_id": digest, "name": name, "role": role, "created": now()})


def now() -> datetime:
    return datetime.now(UTC)


T0 = datetime(2022, 8, 30, 10, 43, 46, 758000, tzinfo=UTC)


def task_doc(uuid_: str, state: str = "SUCCESS", *, age: float = 0, **fields: Any) -> Doc:
    """A ``tasks`` document as the projector writes it, internal fields included."""
    at = T0 - timedelta(seconds=age)
    doc: Doc = {
        "_id": uuid_,
        "uuid": uuid_,
        "app": "default",
        "name": "scan.tasks.port_enumerate",
        "args": "['ad3ead73', 8888, 'http', None]",
        "kwargs": "{}",
        "retries": 0,
        "eta": None,
        "expires": None,
        "root_id": uuid_,
        "parent_id": None,
        "queue": "celery",
        "exchange": "",
        "routing_key": "celery",
        "state": state,
        "worker": "celery@w1",
        "result": "'done'" if state == "SUCCESS" else None,
        "runtime": 0.25 if state == "SUCCESS" else None,
        "exception": None,
        "traceback": None,
        "sent": at - timedelta(seconds=2),
        "received": at - timedelta(seconds=1),
        "started": at - timedelta(seconds=0.5),
        "succeeded": at if state == "SUCCESS" else None,
        "failed": at if state == "FAILURE" else None,
        "retried": None,
        "revoked": at if state == "REVOKED" else None,
        "rejected": None,
        "timestamp": at,
        "revoke": None,
        "children": [],
        "labels": {},
        "deleted": False,
        "lost": False,
        "_events": {"task-received": {"type": "task-received", "uuid": uuid_}},
        "_src": {"task-received": "stream:1"},
        "_child_app": None,
        "_v": 3,
    }
    doc.update(fields)
    times = [doc[f] for f in ("sent", "received", "timestamp") if isinstance(doc.get(f), datetime)]
    doc.setdefault("_slots", sorted({slot_start(t) for t in times}))
    doc.setdefault("published", isinstance(doc.get("sent"), datetime))
    return doc


async def count_tasks(db: AsyncDatabase[Doc]) -> None:
    """Let the projector's counters count the task documents seeded straight into ``db``:
    mark every slot they name and run its sweep (as a rebuild does)."""
    store = MongoStore(db.client, db.name)
    await mongo.create_collections(db, (*READ_MODELS, mongo.CHECKPOINTS))
    slots: set[str] = set()
    apps: set[str] = set()
    async for doc in db.tasks.find({}, {"_slots": 1, "app": 1}):
        slots.update(slot_key(s) for s in doc.get("_slots") or [])
        apps.add(doc["app"])
    await store.register_apps(sorted(apps))
    await store.save_position("seeded", 0, sorted(slots))
    await Maintenance(store, consumer="seeded").sweep_stats(everything=True)


ONLINE_FOR = timedelta(minutes=10)
"""How long a worker document made online stays online."""


def worker_doc(
    hostname: str, *, online: bool, active: int = 0, processed: int = 0, app: str = "default"
) -> Doc:
    seen = now() - timedelta(seconds=1)
    return {
        "_id": hostname,
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"tasktrail:{app}/{hostname}")),
        "hostname": hostname,
        "app": app,
        "pid": 1,
        "freq": 2.0,
        "active": active,
        "processed": processed,
        "loadavg": [1.13, 1.24, 1.08],
        "sw_ident": "py-celery",
        "sw_ver": "5.4.0",
        "sw_sys": "Linux",
        "last_heartbeat": seen,
        "offline_at": None if online else seen,
        # online for the whole test: a test that walks every route on a loaded machine can
        # take longer than one heartbeat window
        "alive_until": seen + ONLINE_FOR if online else seen,
        "deleted": False,
        "_events": {"worker-heartbeat": {"type": "worker-heartbeat"}},
        "_src": {},
        "_v": 7,
    }
