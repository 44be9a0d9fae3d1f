"""Projection benchmark: throughput against the database's raw ceiling, and freshness.

Throughput: ``--events`` Celery events of realistic lifecycles (see ``project_traffic``) are
put in a JetStream stream as the collector stores them; the projector, in this process and
wired by its own composition root, projects them into an empty database. Then the task
documents it produced are upserted again, as prepared documents with plain ``UpdateOne``
upserts in bulks of the batch size, into an empty collection with the same indexes on the
same server: that is the raw ceiling the projector is compared with. Two ceilings: the same
output as the projector's (its task documents and its history documents, written
concurrently as it writes them) and the task documents alone. Each round drops its databases.

Freshness: the collector, the projector and the API run as processes; traffic is published
on the Redis broker at ``--rate`` events/s; for a sample of tasks, the time from the moment
their final event is published to the moment ``GET /monitor/tasks/<id>`` shows it.

The embedded MongoDB-wire server (SecantusDB) does about 1,000-2,000 indexed upserts/s, so
the sizes are modest; point ``--mongo-url`` at a real MongoDB for real numbers.

    python -m bench.project [--events 20000] [--rates 1000,2000] [--seconds 20]

Goals (issue 15): event to visible p99 <= 1 s at 1,000 events/s and <= 2 s at 2,000 events/s,
the median of the rounds' p99s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import nats
import redis.asyncio as aioredis
from pymongo import AsyncMongoClient, IndexModel, UpdateOne
from tasktrail_api.domain import indexes as api_index_specs
from tasktrail_devstack.servers import MongoServer, NatsServer, RedisServer
from tasktrail_devstack.services import running_services
from tasktrail_projector.bootstrap import Projection, bootstrap
from tasktrail_projector.settings import LabelRule, Settings
from tasktrail_shared import mongo
from tasktrail_shared.nats import ensure_stream
from tasktrail_shared.stream_message import celery_stream_message

from bench.ingest import rss_mb
from bench.project_traffic import LABELS, Message, Traffic, synthetic

APP = "bench"
Doc = dict[str, Any]


@dataclass
class Throughput:
    indexes: int
    """Indexes on ``tasks``: the projector's and the API's, as deployed."""
    events: int
    messages: int
    tasks: int
    seconds: float
    documents_written: int
    history: int
    bulk_writes: int
    loads: int
    batches: int
    ceiling_seconds: float
    """Tasks alone."""
    output_ceiling_seconds: float
    """The same output as the projector's: tasks and their history."""


def bench_settings(nats_url: str, mongo_url: str, batch: int) -> Settings:
    """The projector's settings for one measurement: a fresh database, the traffic's labels."""
    return Settings(
        nats_url=nats_url,
        mongo_url=mongo_url,
        mongo_db=f"bench_{secrets.token_hex(3)}",
        stream="TASKTRAIL",
        app=APP,
        projector_health_port=0,
        projector_batch_size=batch,
        projector_labels=[LabelRule.model_validate(rule) for rule in LABELS],
    )


async def publish(nats_url: str, settings: Settings, messages: list[Message]) -> None:
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await ensure_stream(js, settings.stream_settings())
        for start in range(0, len(messages), 500):
            futures = []
            for m in messages[start : start + 500]:
                env = celery_stream_message(
                    app=APP,
                    routing_key=m.routing_key,
                    data=m.payload,
                    source="bench",
                    received=m.at,
                )
                futures.append(js.publish(env.nats_subject, env.data, headers=env.headers()))
            await asyncio.gather(*futures)
    finally:
        await nc.close()


async def project_all(projection: Projection, messages: int) -> float:
    """Runs ``projection`` until it has projected ``messages``, then closes it; the seconds it
    took from its start."""
    stop = asyncio.Event()
    try:
        started = time.perf_counter()
        runner = asyncio.create_task(projection.run(stop))
        while projection.projector.stats.messages < messages:
            await asyncio.sleep(0.01)
            if runner.done():
                runner.result()
        elapsed = time.perf_counter() - started
        stop.set()
        await runner
    finally:
        await projection.close()
    return elapsed


async def api_indexes(mongo_url: str, db: str) -> int:
    """Create the indexes the API creates at its start (a deployment has both sets)."""
    client: AsyncMongoClient[Doc] = mongo.client(mongo_url)
    try:
        for collection, specs in (
            (mongo.TASKS, api_index_specs.TASK_INDEXES),
            (mongo.WORKERS, api_index_specs.WORKER_INDEXES),
            (mongo.TASK_EVENTS, api_index_specs.EVENT_INDEXES),
        ):
            models = [
                IndexModel(
                    spec["keys"], name=name, **{k: v for k, v in spec.items() if k != "keys"}
                )
                for name, spec in specs.items()
            ]
            await client[db][collection].create_indexes(models)
        return len(api_index_specs.TASK_INDEXES)
    finally:
        await client.close()


async def _copy_indexes(source: Any, target: Any) -> int:
    """Create ``source``'s indexes on ``target``; returns how many it has (``_id`` included)."""
    models = [
        IndexModel(
            list(spec["key"]),
            **{k: v for k, v in spec.items() if k not in ("key", "v", "ns")},
            name=name,
        )
        for name, spec in (await source.index_information()).items()
        if name != "_id_"
    ]
    await target.create_indexes(models)
    return len(models) + 1


async def _upsert_all(target: Any, docs: list[Doc], batch: int) -> None:
    for i in range(0, len(docs), batch):
        await target.bulk_write(
            [UpdateOne({"_id": d["_id"]}, {"$set": d}, upsert=True) for d in docs[i : i + batch]],
            ordered=False,
        )


async def raw_ceiling(
    mongo_url: str, source_db: str, batch: int, with_history: bool
) -> tuple[float, int, int]:
    """Upsert the projector's task documents (and, ``with_history``, its history documents,
    concurrently, as it writes them), prepared, into empty collections with the same indexes.
    Returns the seconds taken, the task documents and the indexes on ``tasks``."""
    client: AsyncMongoClient[Doc] = mongo.client(mongo_url)
    target_db = f"{source_db}_ceiling"
    try:
        source, target = client[source_db], client[target_db]
        names = [mongo.TASKS, mongo.TASK_EVENTS] if with_history else [mongo.TASKS]
        docs = {n: [d async for d in source[n].find({}, {"_v": 0})] for n in names}
        await mongo.create_collections(target, names)
        counts = {n: await _copy_indexes(source[n], target[n]) for n in names}
        started = time.perf_counter()
        await asyncio.gather(*(_upsert_all(target[n], docs[n], batch) for n in names))
        elapsed = time.perf_counter() - started
        await client.drop_database(target_db)
        return elapsed, len(docs[mongo.TASKS]), counts[mongo.TASKS]
    finally:
        await client.close()


async def throughput(
    nats_url: str, mongo_url: str, events: int, batch: int, rate: float
) -> Throughput:
    settings = bench_settings(nats_url, mongo_url, batch)
    messages = synthetic(events, rate)
    await publish(nats_url, settings, messages)
    projection = await bootstrap(settings)
    await api_indexes(mongo_url, settings.mongo_db)
    elapsed = await project_all(projection, len(messages))
    stats = projection.projector.stats
    ceiling, tasks, index_count = await raw_ceiling(mongo_url, settings.mongo_db, batch, False)
    output_ceiling, _, _ = await raw_ceiling(mongo_url, settings.mongo_db, batch, True)
    await drop_database(mongo_url, settings.mongo_db)  # rounds must not weigh on each other
    return Throughput(
        indexes=index_count,
        events=stats.events,
        messages=stats.messages,
        tasks=tasks,
        seconds=elapsed,
        documents_written=stats.documents_written,
        history=stats.history,
        bulk_writes=stats.bulk_writes,
        loads=stats.loads,
        batches=stats.batches,
        ceiling_seconds=ceiling,
        output_ceiling_seconds=output_ceiling,
    )


async def drop_database(mongo_url: str, name: str) -> None:
    client: AsyncMongoClient[Doc] = mongo.client(mongo_url)
    try:
        await client.drop_database(name)
    finally:
        await client.close()


def report_throughput(rounds: list[Throughput], batch: int) -> None:
    """The median round (by projector/ceiling ratio, same output) in detail, then every
    round's ratios."""
    ranked = sorted(rounds, key=lambda r: r.output_ceiling_seconds / r.seconds)
    t = ranked[len(ranked) // 2]
    projector_rate = t.tasks / t.seconds
    rows = [
        ("events projected", f"{t.events:,}"),
        ("stream messages", f"{t.messages:,}"),
        ("task documents", f"{t.tasks:,}"),
        ("batch size (messages)", f"{batch}"),
        ("indexes on tasks (projector + API)", f"{t.indexes}"),
        ("projector time (s)", f"{t.seconds:.2f}"),
        ("projector events/s", f"{t.events / t.seconds:,.0f}"),
        ("projector task docs/s", f"{projector_rate:,.0f}"),
        ("read-model document writes", f"{t.documents_written:,}"),
        ("events per document write", f"{t.events / t.documents_written:.2f}"),
        ("history inserts (task_events)", f"{t.history:,}"),
        ("bulk writes / loads / batches", f"{t.bulk_writes} / {t.loads} / {t.batches}"),
        ("raw ceiling, tasks + history (s)", f"{t.output_ceiling_seconds:.2f}"),
        ("raw ceiling, tasks alone (s)", f"{t.ceiling_seconds:.2f}"),
        ("projector / ceiling, same output", f"{t.output_ceiling_seconds / t.seconds:.0%}"),
        ("projector / ceiling, tasks alone", f"{t.ceiling_seconds / t.seconds:.0%}"),
    ]
    width = max(len(k) for k, _ in rows)
    print(
        f"\nThroughput (projector in-process, same server, same indexes; median of {len(rounds)})"
    )
    for key, value in rows:
        print(f"  {key:<{width}}  {value:>12}")
    for label, ceilings in (
        ("same output", [r.output_ceiling_seconds for r in rounds]),
        ("tasks alone", [r.ceiling_seconds for r in rounds]),
    ):
        ratios = ", ".join(f"{c / r.seconds:.0%}" for c, r in zip(ceilings, rounds, strict=True))
        print(f"  {'projector / ceiling, ' + label + ', each round':<{width}}  {ratios}")


@dataclass
class Freshness:
    rate: float
    events: int
    samples: int
    missed: int
    from_publish: list[float]
    from_event: list[float]
    projector_rss_mb: float = 0.0


@dataclass
class _Watch:
    """Sampled tasks not yet seen final in the API, and how long the seen ones took."""

    sample_every: int
    waiting: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Task id -> (broker publish time, the final event's own time)."""
    sampled: int = 0
    from_publish: list[float] = field(default_factory=list)
    from_event: list[float] = field(default_factory=list)

    def sample(self, batch: list[Message], traffic: Traffic, published_at: float) -> None:
        """Watch one task in ``sample_every`` of those whose final event was just published."""
        for message in batch:
            for task_id in message.final:
                self.sampled += 1
                stamped = traffic.final_times.pop(task_id, published_at)
                if self.sampled % self.sample_every == 0:
                    self.waiting[task_id] = (published_at, stamped)

    def expire(self, now: float, after: float = 30) -> None:
        """Stop waiting for tasks not seen within ``after`` seconds (counted as missed)."""
        for task_id, (sent, _) in list(self.waiting.items()):
            if now - sent > after:
                del self.waiting[task_id]

    def answer(self, task_id: str, reply: httpx.Response | BaseException, at: float) -> None:
        """Record the task as seen if the API's answer shows its final state."""
        if isinstance(reply, BaseException):  # a stalled read: not seen yet
            return
        body = reply.json() if reply.status_code == 200 else {}
        status = ((body.get("data") or {}).get("celerytask") or {}).get("status")
        if status in ("SUCCESS", "FAILURE") and task_id in self.waiting:
            sent, stamped = self.waiting.pop(task_id)
            self.from_publish.append(at - sent)
            self.from_event.append(at - stamped)


async def _poll(client: httpx.AsyncClient, watch: _Watch, done: asyncio.Event) -> None:
    """Ask the API for every waiting task, every 50 ms, until publishing is done and none waits."""
    while not done.is_set() or watch.waiting:
        watch.expire(time.time())
        ids = list(watch.waiting)
        replies = await asyncio.gather(
            *(client.get(f"/monitor/tasks/{i}") for i in ids), return_exceptions=True
        )
        seen = time.time()
        for task_id, reply in zip(ids, replies, strict=True):
            watch.answer(task_id, reply, seen)
        await asyncio.sleep(0.05)


def _lifecycles(traffic: Traffic, published: int, target: float) -> tuple[list[Message], int]:
    """Whole task lifecycles until ``target`` events are published; the new event count."""
    batch: list[Message] = []
    while published < target:
        for message in traffic.task():
            batch.append(message)
            published += message.events
    return batch, published


async def freshness(
    redis_url: str, api: str, token: str, rate: float, seconds: float, sample_every: int
) -> Freshness:
    """Publish lifecycles on the broker at ``rate``; time sampled tasks until the API shows
    their final state, counted from the broker publish and from the event's own time."""
    broker = aioredis.Redis.from_url(redis_url)
    traffic = Traffic()
    watch = _Watch(sample_every)
    done = asyncio.Event()
    published = 0
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=api, headers=headers, timeout=10) as client:
        poller = asyncio.create_task(_poll(client, watch, done))
        started = time.time()
        while time.time() - started < seconds:
            batch, published = _lifecycles(traffic, published, rate * (time.time() - started))
            pipe = broker.pipeline(transaction=False)
            for message in batch:
                pipe.publish(f"/0.celeryev/{message.routing_key}", message.payload)
            await pipe.execute()
            watch.sample(batch, traffic, time.time())
            await asyncio.sleep(0.01)
        elapsed = time.time() - started
        done.set()
        await poller
    await broker.aclose()
    samples = watch.sampled // sample_every
    return Freshness(
        published / elapsed,
        published,
        samples,
        samples - len(watch.from_publish),
        watch.from_publish,
        watch.from_event,
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


FRESHNESS_GOALS = {1000.0: 1.0, 2000.0: 2.0}
"""Target events/s -> the p99 (seconds, from event time) it must stay under."""


def report_freshness(rate: float, rounds: list[Freshness]) -> None:
    """The median round (by p99 from event time) in detail, then every round's p50/p99."""
    ranked = sorted(rounds, key=lambda r: _pct(r.from_event, 0.99))
    f = ranked[len(ranked) // 2]
    print(f"\nFreshness at {rate:,.0f} events/s")
    print("  (broker -> collector -> JetStream -> projector -> MongoDB -> API)")
    print(f"  median of {len(rounds)} rounds of {f.events:,} events")
    print(f"  rate achieved            {f.rate:>10,.0f} events/s")
    print(f"  sampled tasks            {f.samples:>10,} ({f.missed} not seen within 30 s)")
    print(f"  projector RSS at the end {f.projector_rss_mb:>10.0f} MB")
    for label, values in (
        ("from broker publish", f.from_publish),
        ("from event time", f.from_event),
    ):
        p50, p99, top = _pct(values, 0.5), _pct(values, 0.99), max(values, default=0.0)
        print(
            f"  {label:<24} p50 {p50 * 1000:>6.0f} ms   p99 {p99 * 1000:>6.0f} ms   "
            f"max {top * 1000:>6.0f} ms"
        )
    each = "  ".join(
        f"{_pct(r.from_event, 0.5) * 1000:.0f}/{_pct(r.from_event, 0.99) * 1000:.0f}"
        for r in rounds
    )
    print(f"  from event time p50/p99 (ms), each round: {each}")
    goal = FRESHNESS_GOALS.get(rate)
    if goal is not None:
        p99 = _pct(f.from_event, 0.99)
        verdict = "met" if p99 <= goal else "NOT met"
        print(f"  goal p99 <= {goal * 1000:.0f} ms (median round): {verdict}")


def run_freshness(
    work: Path, nats_url: str, mongo_url: str, rate: float, seconds: float
) -> Freshness:
    """Collector, projector and API as processes on fresh servers; traffic on Redis."""
    with RedisServer(work / "redis") as redis_server:
        token = secrets.token_urlsafe(16)
        env = {
            "TASKTRAIL_BROKER_URL": redis_server.url,
            "TASKTRAIL_NATS_URL": nats_url,
            "TASKTRAIL_MONGO_URL": mongo_url,
            "TASKTRAIL_MONGO_DB": f"fresh_{secrets.token_hex(3)}",
            "TASKTRAIL_APP": APP,
            "TASKTRAIL_ADMIN_TOKEN": token,
            "TASKTRAIL_API_HOST": "127.0.0.1",
            "TASKTRAIL_PROJECTOR_LABELS": json.dumps(LABELS),
            "TASKTRAIL_COLLECTOR_SPOOL_DIR": str(work / "spool"),
            "TASKTRAIL_LOG_LEVEL": "WARNING",
        }
        with running_services(("collector", "projector", "api"), env, work) as services:
            time.sleep(1)  # the collector subscribes to the event channel once ready
            result = asyncio.run(
                freshness(redis_server.url, services.url("api"), token, rate, seconds, 50)
            )
            result.projector_rss_mb = rss_mb(services.processes["projector"].pid)
            return result


def main(argv: list[str] | None = None) -> None:
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    parser = argparse.ArgumentParser(prog="python -m bench.project")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5, help="throughput rounds (median shown)")
    parser.add_argument("--rate", type=float, default=1000.0, help="throughput rounds' traffic")
    parser.add_argument(
        "--rates", default="1000,2000", help="freshness traffic, events/s, one run per rate"
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="freshness round length")
    parser.add_argument(
        "--freshness-rounds", type=int, default=3, help="freshness rounds (median shown)"
    )
    parser.add_argument("--skip-freshness", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--mongo-url", help="measure against this server instead of SecantusDB")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tasktrail-bench-") as tmp:
        work = Path(tmp)
        if not args.skip_throughput:
            throughput_rounds(work, args)
        if args.skip_freshness:
            return
        for rate in [float(r) for r in args.rates.split(",")]:
            fresh = []
            for i in range(args.freshness_rounds):
                # each round on servers of its own: what the throughput rounds left behind
                # (and the previous round) must not weigh on the live pipeline
                with contextlib.ExitStack() as stack:
                    live = work / f"live{rate:.0f}-{i}"
                    mongo = args.mongo_url or stack.enter_context(MongoServer(live / "mongo")).url
                    nats_server = stack.enter_context(NatsServer(live / "nats"))
                    fresh.append(run_freshness(live, nats_server.url, mongo, rate, args.seconds))
            report_freshness(rate, fresh)


def throughput_rounds(work: Path, args: argparse.Namespace) -> None:
    with contextlib.ExitStack() as stack:
        mongo_url = args.mongo_url or stack.enter_context(MongoServer(work / "mongo")).url
        rounds = []
        for i in range(args.rounds):
            with NatsServer(work / f"nats{i}") as nats_server:
                rounds.append(
                    asyncio.run(
                        throughput(nats_server.url, mongo_url, args.events, args.batch, args.rate)
                    )
                )
        report_throughput(rounds, args.batch)


if __name__ == "__main__":
    main()
