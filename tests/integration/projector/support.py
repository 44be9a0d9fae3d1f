"""Helpers for the projector's integration tests: publish as the collector does, run the
projector in-process or as a process, wait for it to drain, read the read models back."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from typing import Any

import nats
from pymongo import AsyncMongoClient
from tasktrail_devstack.processes import ServiceProcess, find_binary
from tasktrail_projector.adapters.store import READ_MODELS, MongoStore
from tasktrail_projector.bootstrap import Projection, bootstrap
from tasktrail_projector.service import Stats
from tasktrail_projector.settings import Settings
from tasktrail_projector.sweeps import Maintenance
from tasktrail_shared import mongo
from tasktrail_shared.nats import ensure_stream
from tasktrail_shared.stream_message import StreamMessage, celery_stream_message

from bench.project_traffic import synthetic
from tests.unit.projector import scenario

Doc = dict[str, Any]
Published = tuple[str, dict[str, str], bytes]


def as_published(envelopes: Iterable[StreamMessage]) -> list[Published]:
    return [(e.nats_subject, e.headers(), e.data) for e in envelopes]


def settings_for(nats_url: str, mongo_url: str, db: str, stream: str, **more: Any) -> Settings:
    fields: dict[str, Any] = {
        "app": "scan",
        "projector_health_port": 0,
        "projector_batch_size": 500,
        "projector_sent_hold": 0,
        **more,
    }
    return Settings(nats_url=nats_url, mongo_url=mongo_url, mongo_db=db, stream=stream, **fields)


def environment(settings: Settings) -> dict[str, str]:
    """The same settings as environment variables, for a projector process."""
    env = {}
    for name, value in settings.model_dump(exclude={"projector_labels"}).items():
        if value is not None:
            env[f"TASKTRAIL_{name.upper()}"] = str(value)
    rules = [rule.model_dump(exclude_none=True) for rule in settings.projector_labels]
    env["TASKTRAIL_PROJECTOR_LABELS"] = json.dumps(rules)
    return env


async def publish(settings: Settings, messages: Iterable[Published]) -> int:
    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        await ensure_stream(js, settings.stream_settings())
        pending = [js.publish(s, d, headers=h) for s, h, d in messages]
        for start in range(0, len(pending), 200):
            await asyncio.gather(*pending[start : start + 200])
        info = await js.stream_info(settings.stream)
        return int(info.state.messages)
    finally:
        await nc.close()


async def drained(settings: Settings, durable: str | None = None) -> bool:
    nc = await nats.connect(settings.nats_url)
    try:
        name = durable or settings.projector_durable
        info = await nc.jetstream().consumer_info(settings.stream, name)
        return bool(info.num_pending == 0 and info.num_ack_pending == 0)
    finally:
        await nc.close()


async def wait_drained(settings: Settings, timeout: float = 120) -> None:
    async with asyncio.timeout(timeout):
        while not await drained(settings):
            await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def running(settings: Settings, replicas: int = 1) -> AsyncIterator[list[Projection]]:
    """Projector replicas sharing the durable consumer, stopped (and closed) on exit."""
    projections = [await bootstrap(settings) for _ in range(replicas)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(p.run(stop)) for p in projections]
    try:
        yield projections
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
        for p in projections:
            await p.close()


async def project(settings: Settings, messages: list[Published], replicas: int = 1) -> Stats:
    """Publish, project until the durable has nothing pending, then settle the sweeps."""
    await publish(settings, messages)
    async with running(settings, replicas) as projections:
        await wait_drained(settings)
    await settle(settings)
    total = Stats()
    for p in projections:
        for name in Stats.__slots__:
            setattr(total, name, getattr(total, name) + getattr(p.projector.stats, name))
    return total


async def settle(settings: Settings, now: Any = None, database: str | None = None) -> None:
    """Run both sweeps to completion on a database, as a projector would eventually."""
    store = MongoStore.open(settings.mongo_url, database or settings.mongo_db)
    try:
        await Maintenance(store, consumer=settings.projector_durable).settle(now)
    finally:
        await store.close()


async def read(mongo_url: str, db: str, collection: str) -> dict[Any, Doc]:
    client: AsyncMongoClient[Doc] = mongo.client(mongo_url)
    try:
        return {d["_id"]: d async for d in client[db][collection].find()}
    finally:
        await client.close()


async def read_models(mongo_url: str, db: str) -> dict[str, dict[Any, Doc]]:
    """Every read model of ``db`` without versions (nor when a tally was written, nor the
    counters' write stamps), keyed by collection."""
    return {c: without(await read(mongo_url, db, c), "_v", "at", "stamp") for c in READ_MODELS}


def without(docs: Mapping[Any, Doc], *fields: str) -> dict[Any, Doc]:
    return {k: {f: v for f, v in d.items() if f not in fields} for k, d in docs.items()}


async def drop(mongo_url: str, *databases: str) -> None:
    client: AsyncMongoClient[Doc] = mongo.client(mongo_url)
    try:
        for db in databases:
            await client.drop_database(db)
    finally:
        await client.close()


async def clean_run(settings: Settings) -> dict[str, dict[Any, Doc]]:
    """The read models of one undisturbed projector over the same stream (its own durable,
    its own database, dropped afterwards): what any run must converge to."""
    clean = settings.model_copy(
        update={
            "mongo_db": f"{settings.mongo_db}_clean",
            "projector_durable": "clean",
            "projector_batch_size": 500,
        }
    )
    try:
        async with running(clean):
            await wait_drained(clean)
        await settle(clean)
        return await read_models(clean.mongo_url, clean.mongo_db)
    finally:
        await drop(clean.mongo_url, clean.mongo_db)


def crash_settings(nats_url: str, mongo_url: str, db: str, ack_wait: float) -> Settings:
    """Settings for a projector that will be killed: small batches, so it dies mid-stream,
    and ``ack_wait`` seconds before what it had fetched is delivered again."""
    return settings_for(
        nats_url,
        mongo_url,
        db,
        "TASKTRAIL",
        projector_batch_size=40,
        projector_ack_wait=ack_wait,
    )


async def settled_and_clean(
    settings: Settings,
) -> tuple[dict[str, dict[Any, Doc]], dict[str, dict[Any, Doc]]]:
    """The read models of ``settings`` once settled, and those of a clean run over the same
    stream: what a disturbed run is compared with."""
    await settle(settings)
    expected = await clean_run(settings)
    return await read_models(settings.mongo_url, settings.mongo_db), expected


def projector_process(settings: Settings, log: Path, **env: str) -> ServiceProcess:
    return ServiceProcess(
        "projector",
        [find_binary("tasktrail-projector")],
        log_path=log,
        env={**environment(settings), "TASKTRAIL_LOG_LEVEL": "INFO", **env},
    )


async def rebuild(
    settings: Settings, *args: str, log_level: str = "WARNING"
) -> subprocess.CompletedProcess[str]:
    """``tasktrail-projector rebuild``, as an operator runs it (output to pipes: no terminal)."""
    command = [find_binary("tasktrail-projector"), "rebuild", *args]
    env = {**environment(settings), "TASKTRAIL_LOG_LEVEL": log_level, "PATH": "/usr/bin:/bin"}
    return await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=120
    )


def traffic(events: int = 2500) -> list[Published]:
    """Realistic lifecycles of eight workers (``events`` Celery events), with the API's
    records mixed in."""
    lifecycles = [
        celery_stream_message(
            app="scan", routing_key=m.routing_key, data=m.payload, source="t", received=m.at
        )
        for m in synthetic(events, 1000.0)
    ]
    records = scenario.messages()
    mixed = []
    for i, envelope in enumerate(lifecycles):
        mixed.append(envelope)
        if i % 50 == 0 and records:
            mixed.append(records.pop())
    return as_published([*mixed, *records])


async def position(mongo_url: str, db: str) -> int:
    """The highest stream sequence the projector has stored."""
    client: AsyncMongoClient[Doc] = mongo.client(mongo_url)
    try:
        doc = await client[db][mongo.CHECKPOINTS].find_one({"_id": "projector"})
        return int((doc or {}).get("seq", 0))
    finally:
        await client.close()
