"""API scale benchmark: the read endpoints as history grows, next to Flower's at 100k.

Realistic task lifecycles (sent, received, started, then succeeded, failed or revoked, or
left pending; ten task names, eight workers, a hundred ``cidr_id`` labels) go through the
real pipeline: published on a Redis broker's event channel as Celery workers publish them,
taken in by the collector, stored in JetStream, projected by the projector into the
embedded MongoDB-wire server (SecantusDB), read by the API; every service is its own
process. Loading stops at each size (25k, 50k, 100k, 200k tasks by default) once the
projector has applied everything and counted it; then each query is timed sequentially over
keep-alive HTTP (p50 and p99) and each service's RSS is read.

Flower, started at the beginning with ``--max_tasks`` above the Flower size, takes in the
same events from the same channel until that size; there its closest queries are timed in
the same way, and it is stopped.

The table shows each query's p50/p99 per size, its growth (p99 at the largest size over p99
at the smallest; goal <= 1.5) and its p99 at the Flower size over Flower's (goal <= 1).
At the largest size, the whole log is then projected again into empty databases, once by a
second live projector (its own durable consumer) and once by ``tasktrail-projector rebuild``,
and both rates are printed in events/s (``--no-replay`` skips it).
Timings depend on the machine's load (printed); they are a measurement, not a test.

    python -m bench.api                              # 25k, 50k, 100k, 200k; Flower at 100k
    python -m bench.api --sizes 2000,4000 --flower-at 2000   # a quick run
    python -m bench.api --seeded    # each size written straight into its own database

``--seeded`` skips the pipeline where it is too slow to load 200k tasks in the time at hand
(a slow machine): each size is written as the projector would have written it and counted by
the projector's sweep (``bench.seeded``), a database per size, read by an API of its own;
only the API's RSS is shown, and nothing is replayed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis
from pymongo import MongoClient
from tasktrail_api.domain.cursor import Cursor, encode_cursor
from tasktrail_devstack.processes import ServiceProcess, find_binary
from tasktrail_devstack.servers import MongoServer, NatsServer, RedisServer, free_port
from tasktrail_projector.settings import LabelRule, Settings
from tasktrail_shared import counts, mongo

from bench.firehose import envelope
from bench.ingest import flower_events, rss_mb
from bench.rebuild import Rate, live_rate, rebuild_rate
from bench.rebuild import report as report_rates

STATES = ["SUCCESS"] * 40 + ["FAILURE"] * 4 + ["STARTED"] * 2 + ["PENDING"] * 2 + ["REVOKED"]
NAMES = [f"scan.tasks.step{i}" for i in range(10)]
WORKERS = [f"celery@bench{i}" for i in range(8)]
CLIENT = "client@bench"
APP = "bench"
LABELS = [{"label": "cidr_id", "task": "scan.tasks.*", "arg": 0}]
SERVICES = ("collector", "projector", "api")
RUNTIME_WINDOW = 10.0
"""Seconds of history the runtime-sorted list covers (a time window: see docs/api.md): the
last ten seconds of what was loaded."""
DEEP = 10_000
"""The deep page starts after the task published this many tasks into the history."""
Query = Callable[[httpx.Client], httpx.Response]


@dataclass
class Task:
    uuid: str
    name: str
    state: str
    worker: str
    sent: float
    runtime: float
    cidr: str


def make_task(rng: random.Random) -> Task:
    return Task(
        str(uuid.UUID(int=rng.getrandbits(128))),
        rng.choice(NAMES),
        rng.choice(STATES),
        rng.choice(WORKERS),
        time.time(),
        round(rng.uniform(0.001, 2.0), 6),
        f"cidr-{rng.randrange(100)}",
    )


def events(t: Task, clock: int) -> list[tuple[str, dict[str, Any]]]:
    """The Celery events of one lifecycle, as (routing key, event)."""

    def ev(kind: str, host: str, at: float, **fields: Any) -> tuple[str, dict[str, Any]]:
        body = {"hostname": host, "utcoffset": 0, "pid": 1, "clock": clock, "uuid": t.uuid,
                "timestamp": at, "type": kind, **fields}  # fmt: skip
        return kind.replace("-", "."), body

    received, started = t.sent + 0.002, t.sent + 0.003
    args = f"('{t.cidr}', 8080, 'http')"
    out = [ev("task-sent", CLIENT, t.sent, name=t.name, args=args, kwargs="{}", retries=0,
              eta=None, expires=None, queue="celery")]  # fmt: skip
    if t.state == "PENDING":
        return out
    out.append(ev("task-received", t.worker, received, name=t.name, args=args, kwargs="{}"))
    if t.state == "REVOKED":
        return [*out, ev("task-revoked", t.worker, received, terminated=False, expired=False)]
    out.append(ev("task-started", t.worker, started))
    if t.state == "SUCCESS":
        out.append(ev("task-succeeded", t.worker, started + t.runtime, result="'ok'",
                      runtime=t.runtime))  # fmt: skip
    elif t.state == "FAILURE":
        out.append(ev("task-failed", t.worker, started + t.runtime, exception="ValueError('x')",
                      traceback="Traceback ..."))  # fmt: skip
    return out


Timing = tuple[float, float, int]
"""p50 and p99 in milliseconds, and the rows the last answer held."""


def timings(client: httpx.Client, query: Query, runs: int) -> Timing:
    """``runs`` timed calls after one untimed (the first after a load warms the caches);
    p99 by nearest rank (of 100 samples, the second slowest)."""
    query(client).raise_for_status()
    samples = []
    response = None
    for _ in range(runs):
        start = time.perf_counter()
        response = query(client)
        samples.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    samples.sort()
    p99 = samples[max(math.ceil(len(samples) * 0.99) - 1, 0)]
    return statistics.median(samples), p99, rows(response.json() if response else None)


def rows(body: Any) -> int:
    """How many tasks an answer holds (ours: the envelope's list; Flower's: a dict by id)."""
    data = body.get("data", body) if isinstance(body, dict) else body
    if isinstance(data, dict) and isinstance(data.get("celery_tasks"), list):
        return len(data["celery_tasks"])
    if isinstance(data, dict) and ("celerytask" in data or "uuid" in data or "task" in data):
        return 1
    return len(data) if isinstance(data, dict | list) else 0


@dataclass
class Loader:
    """Publishes lifecycles on the broker, never far ahead of the consumers' intake (Redis
    drops pub/sub messages for a subscriber whose buffer overflows)."""

    redis_url: str
    mongo_url: str
    stream_count: Callable[[], int]
    flower_port: int | None = None
    rate: float = 250.0
    """Tasks a second: the history's density, whatever the pipeline's speed."""
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    tasks: list[Task] = field(default_factory=list)
    published: int = 0
    backlog: int = 20_000

    def load(self, until: int) -> None:
        broker = redis.Redis.from_url(self.redis_url)
        pipe = broker.pipeline(transaction=False)
        started, base = time.monotonic(), len(self.tasks)
        while len(self.tasks) < until:
            ahead = (len(self.tasks) - base) / self.rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
            task = make_task(self.rng)
            self.tasks.append(task)
            for key, event in events(task, len(self.tasks)):
                pipe.publish(f"/0.celeryev/{key}", envelope(key, event, event["hostname"]))
                self.published += 1
            if len(pipe) >= 250:
                pipe.execute()
                self._throttle()
        pipe.execute()
        broker.close()

    def _throttle(self) -> None:
        while self.published - self._intake() > self.backlog:
            time.sleep(0.05)

    def _intake(self) -> int:
        taken = self.stream_count()
        if self.flower_port is not None:
            taken = min(taken, max(flower_events(self.flower_port), 0))
        return taken

    def settled(self, db: Any) -> bool:
        """Everything published is in the stream, projected and counted."""
        if self.stream_count() < self.published:
            return False
        checkpoint = db[mongo.CHECKPOINTS].find_one({"_id": "projector"}) or {}
        if int(checkpoint.get("seq", 0)) < self.published or checkpoint.get("dirty"):
            return False
        totals = db[mongo.COUNTS].find({"level": counts.TOTAL})
        return sum(int(d["n"]) for d in totals) == len(self.tasks)


def wait(what: str, predicate: Callable[[], bool], timeout: float = 3600) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"{what}: not after {timeout:.0f} s")
        time.sleep(0.5)
    return time.monotonic() - started


def ours(tasks: list[Task], rng: random.Random, deep_cursor: str) -> dict[str, tuple[Query, bool]]:
    """Each measured query of tasktrail, and whether it reads one document (run more)."""
    name = NAMES[3]
    since = datetime.fromtimestamp(tasks[-1].sent - RUNTIME_WINDOW, UTC).isoformat()

    return {
        "default list (newest 100)": (
            lambda c: c.get("/monitor/tasks", params={"limit": 100}),
            False,
        ),
        "FAILURE newest 100 (by received)": (
            lambda c: c.get("/monitor/tasks", params={"status": "FAILURE", "sort": "-received"}),
            False,
        ),
        "label filter (cidr_id)": (
            lambda c: c.get("/monitor/tasks", params={"cidr_id": "cidr-7"}),
            False,
        ),
        f"name by -runtime (last {RUNTIME_WINDOW:.0f} s)": (
            lambda c: c.get(
                "/monitor/tasks",
                params={"name": name, "sort": "-runtime", "timestamp_after": since},
            ),
            False,
        ),
        "deep page by cursor": (
            lambda c: c.get("/monitor/tasks", params={"limit": 100, "cursor": deep_cursor}),
            False,
        ),
        "GET by id": (lambda c: c.get(f"/monitor/tasks/{rng.choice(tasks).uuid}"), True),
        "dashboard": (lambda c: c.get("/monitor/tasks/dashboard"), True),
    }


def flowers(tasks: list[Task], rng: random.Random) -> dict[str, Query]:
    """Flower's closest query to each of ours (it has no labels, runtime sort or dashboard
    JSON; its deep page is an offset)."""
    deep = len(tasks) - DEEP
    newest = {"limit": 100, "sort_by": "-received"}
    return {
        "default list (newest 100)": lambda c: c.get("/api/tasks", params=newest),
        "FAILURE newest 100 (by received)": lambda c: c.get(
            "/api/tasks", params={**newest, "state": "FAILURE"}
        ),
        "label filter (cidr_id)": lambda c: c.get(
            "/api/tasks", params={**newest, "search": "args:cidr-7"}
        ),
        f"name by -runtime (last {RUNTIME_WINDOW:.0f} s)": lambda c: c.get(
            "/api/tasks", params={"limit": 100, "taskname": NAMES[3], "sort_by": "-started"}
        ),
        "deep page by cursor": lambda c: c.get("/api/tasks", params={**newest, "offset": deep}),
        "GET by id": lambda c: c.get(f"/api/task/info/{rng.choice(tasks).uuid}"),
    }


def deep_cursor(api: httpx.Client, task: Task) -> str:
    """The cursor of the page after ``task`` in the default order (newest first)."""
    shown = api.get(f"/monitor/tasks/{task.uuid}").json()["data"]["celerytask"]
    at = datetime.fromisoformat(shown["timestamp"].replace("Z", "+00:00"))
    return encode_cursor(Cursor("-timestamp", at, task.uuid))


@dataclass
class Run:
    sizes: list[int]
    list_runs: int
    point_runs: int
    rate: float
    replay: bool
    results: dict[int, dict[str, Timing]] = field(default_factory=dict)
    rss: dict[int, dict[str, float]] = field(default_factory=dict)
    flower: dict[str, Timing] = field(default_factory=dict)
    flower_rss: float = 0.0
    loaded: dict[int, float] = field(default_factory=dict)
    replays: dict[str, Rate] = field(default_factory=dict)
    """At the largest size: a second live projector catching up on the whole log, and the
    rebuild over the same log, each into an empty database."""


def embedded_servers(stack: ExitStack, work: Path) -> dict[str, str]:
    """MongoDB-wire, NATS and Redis servers in ``work``, stopped with ``stack``: their URLs."""
    return {
        "mongo": stack.enter_context(MongoServer(work / "mongo")).url,
        "nats": stack.enter_context(NatsServer(work / "nats")).url,
        "redis": stack.enter_context(RedisServer(work / "redis")).url,
    }


def environment(servers: dict[str, str], token: str, port: int, work: Path) -> dict[str, str]:
    return {
        "TASKTRAIL_BROKER_URL": servers["redis"],
        "TASKTRAIL_NATS_URL": servers["nats"],
        "TASKTRAIL_MONGO_URL": servers["mongo"],
        "TASKTRAIL_MONGO_DB": "bench",
        "TASKTRAIL_APP": APP,
        "TASKTRAIL_ADMIN_TOKEN": token,
        "TASKTRAIL_API_PORT": str(port),
        "TASKTRAIL_API_READ_TIMEOUT": "120",
        "TASKTRAIL_PROJECTOR_LABELS": json.dumps(LABELS),
        "TASKTRAIL_COLLECTOR_SPOOL_DIR": str(work / "spool"),
        "TASKTRAIL_COLLECTOR_HEALTH_PORT": str(free_port()),
        "TASKTRAIL_PROJECTOR_HEALTH_PORT": str(free_port()),
        "TASKTRAIL_LOG_LEVEL": "WARNING",
    }


def start_flower(redis_url: str, work: Path, max_tasks: int) -> tuple[ServiceProcess, int]:
    port = free_port()
    flower = ServiceProcess(
        "flower",
        [find_binary("celery"), f"--broker={redis_url}", "flower", f"--port={port}",
         "--address=127.0.0.1", "--logging=warning", f"--max_tasks={max_tasks + 1000}"],
        log_path=work / "flower.log",
        env={"FLOWER_UNAUTHENTICATED_API": "true"},  # its /api needs this since 2.0
    ).start()  # fmt: skip
    flower.wait_until("serving metrics", lambda: flower_events(port) >= 0, 60)
    time.sleep(2)  # Flower subscribes to the event channel after start-up
    return flower, port


def stream_counter(nats_url: str) -> Callable[[], int]:
    import nats

    async def count() -> int:
        nc = await nats.connect(nats_url)
        try:
            info = await nc.jetstream().stream_info("TASKTRAIL")
        except Exception:
            return 0
        finally:
            await nc.close()
        return int(info.state.messages)

    return lambda: asyncio.run(count())


def measure(run: Run, size: int, api: httpx.Client, tasks: list[Task], cursor: str) -> None:
    rng = random.Random(size)
    run.results[size] = {
        name: timings(api, query, run.point_runs if point else run.list_runs)
        for name, (query, point) in ours(tasks, rng, cursor).items()
    }


def measure_flower(run: Run, port: int, tasks: list[Task]) -> None:
    rng = random.Random(7)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
        for name, query in flowers(tasks, rng).items():
            runs = run.point_runs if name == "GET by id" else run.list_runs
            run.flower[name] = timings(client, query, runs)


def flower_round(run: Run, flower: ServiceProcess, loader: Loader) -> float:
    """Once Flower has every event: time its queries, read its RSS, stop it."""
    port = loader.flower_port or 0
    wait("Flower has every event", lambda: flower_events(port) >= loader.published, 600)
    measure_flower(run, port, loader.tasks)
    rss = rss_mb(flower.pid)
    flower.stop()
    return rss


def execute(run: Run, flower_at: int | None, work: Path) -> None:
    token = secrets.token_urlsafe(16)
    port = free_port()
    with ExitStack() as stack:
        servers = embedded_servers(stack, work)
        env = environment(servers, token, port, work)
        procs = {
            name: stack.enter_context(
                ServiceProcess(
                    name, [find_binary(f"tasktrail-{name}")], log_path=work / f"{name}.log", env=env
                )
            )
            for name in SERVICES
        }
        procs["api"].wait_http_ok(f"http://127.0.0.1:{port}/readyz", 60)
        time.sleep(2)  # the collector subscribes to the event channel once ready
        flower: ServiceProcess | None = None
        loader = Loader(
            servers["redis"], servers["mongo"], stream_counter(servers["nats"]), rate=run.rate
        )
        if flower_at is not None:
            flower, loader.flower_port = start_flower(servers["redis"], work, flower_at)
        client: MongoClient[dict[str, Any]] = MongoClient(servers["mongo"], tz_aware=True)
        db = stack.enter_context(client)["bench"]
        api = stack.enter_context(
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=300,
            )
        )
        cursor = ""
        for size in run.sizes:
            started = time.monotonic()
            loader.load(size)
            wait(f"{size:,} tasks projected and counted", lambda: loader.settled(db))
            run.loaded[size] = time.monotonic() - started
            cursor = cursor or deep_cursor(api, loader.tasks[min(DEEP, size) - 1])
            print(f"{size:,} tasks loaded and counted ({run.loaded[size]:.0f} s); measuring",
                  flush=True)  # fmt: skip
            measure(run, size, api, loader.tasks, cursor)
            run.rss[size] = {name: rss_mb(p.pid) for name, p in procs.items()}
            if flower is not None and size == flower_at:
                run.flower_rss = flower_round(run, flower, loader)
                flower, loader.flower_port = None, None
        if run.replay:
            run.replays = replay_rates(servers, loader.stream_count())


def execute_seeded(run: Run, flower_at: int | None, work: Path) -> None:
    """Each size written straight into a database of its own as the projector would have
    written it, then counted by the projector's sweep (``bench.seeded``: minutes instead of
    hours for 200k tasks on a slow machine), and read by an API process of its own; Flower
    fed the same tasks' events at its size. Only the API runs, so only its RSS is shown."""
    from bench.seeded import feed_flower, load_mongo, make_tasks  # it imports this module

    token = secrets.token_urlsafe(16)
    with ExitStack() as stack:
        servers = embedded_servers(stack, work)
        for size in run.sizes:
            tasks = make_tasks(size)
            database = f"bench{size}"
            run.loaded[size] = load_mongo(servers["mongo"], database, tasks)
            port = free_port()
            env = {**environment(servers, token, port, work), "TASKTRAIL_MONGO_DB": database}
            api = ServiceProcess(
                "api", [find_binary("tasktrail-api")], log_path=work / f"api{size}.log", env=env
            )
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {token}"}
            with api, httpx.Client(base_url=base, headers=headers, timeout=300) as client:
                api.wait_http_ok(f"{base}/readyz", 60)
                cursor = deep_cursor(client, tasks[min(DEEP, size) - 1])
                print(f"{size:,} tasks loaded and counted ({run.loaded[size]:.0f} s); "
                      "measuring", flush=True)  # fmt: skip
                measure(run, size, client, tasks, cursor)
                run.rss[size] = {"api": rss_mb(api.pid)}
            if size == flower_at:
                flower, port = start_flower(servers["redis"], work, size)
                with flower:
                    feed_flower(servers["redis"], port, tasks)
                    measure_flower(run, port, tasks)
                    run.flower_rss = rss_mb(flower.pid)


def replay_rates(servers: dict[str, str], messages: int) -> dict[str, Rate]:
    """The whole log projected again, once by a live projector (its own durable consumer)
    and once by ``tasktrail-projector rebuild``, each into an empty database, while the
    stack stands idle: the projector's own rates at the largest size, not the load's."""
    settings = Settings(
        nats_url=servers["nats"],
        mongo_url=servers["mongo"],
        mongo_db="bench_catchup",
        stream="TASKTRAIL",
        app=APP,
        projector_durable="bench-catchup",
        projector_health_port=0,
        projector_labels=[LabelRule.model_validate(rule) for rule in LABELS],
    )
    print(f"projecting the {messages:,} messages of the log again (live, then rebuild)",
          flush=True)  # fmt: skip
    live = asyncio.run(live_rate(settings, messages))
    rebuild = asyncio.run(rebuild_rate(settings, "bench_rebuilt"))
    return {"live": live, "rebuild": rebuild}


def report(run: Run, flower_at: int | None) -> None:
    first, last = run.sizes[0], run.sizes[-1]
    sizes = "".join(f"{f'{s // 1000}k p50/p99':>18}" for s in run.sizes)
    print(f"\n{'query (ms)':<34}{sizes}  {'growth':>7}  {'Flower p50/p99':>15}  {'vs Flower':>9}"
          "  rows (ours/Flower's)")  # fmt: skip
    for name in run.results[first]:
        cells = "".join(
            f"{run.results[s][name][0]:>9.1f}/{run.results[s][name][1]:<8.1f}" for s in run.sizes
        )
        growth = run.results[last][name][1] / max(run.results[first][name][1], 1e-9)
        theirs = run.flower.get(name)
        mine = run.results.get(flower_at or -1, {}).get(name)
        flower_cell = f"{theirs[0]:>7.1f}/{theirs[1]:<7.1f}" if theirs else f"{'-':>15}"
        versus = f"{mine[1] / theirs[1]:>8.2f}x" if theirs and mine else f"{'-':>9}"
        counted = f"{mine[2] if mine else '-'}/{theirs[2] if theirs else '-'}"
        print(f"{name:<34}{cells}  {growth:>6.2f}x  {flower_cell}  {versus}  {counted}")
    print("growth: p99 at the largest size over p99 at the smallest (goal <= 1.5); vs Flower: "
          f"our p99 over Flower's at {flower_at or 0:,} (goal <= 1)")  # fmt: skip
    print(f"\n{'RSS (MB)':<34}" + "".join(f"{f'{s // 1000}k':>10}" for s in run.sizes))
    for service in (s for s in SERVICES if service_measured(run, s)):
        cells = "".join(f"{run.rss[s][service]:>10.0f}" for s in run.sizes)
        growth = run.rss[last][service] / max(run.rss[first][service], 1e-9) - 1
        print(f"{service:<34}{cells}   {growth:+.0%} (goal: <= 200 MB, growing < 10 %)")
    if run.flower_rss:
        print(f"{'flower (at its size)':<34}{run.flower_rss:>10.0f}")
    if run.replays:
        print(f"\nthe log at {last:,} tasks projected again into an empty database:")
        report_rates(run.replays["live"], run.replays["rebuild"])
    summary = {"sizes": run.sizes, "results": run.results, "flower": run.flower, "rss": run.rss,
               "flower_rss": run.flower_rss, "load_seconds": run.loaded,
               "replays": {k: r.events_per_second for k, r in run.replays.items()}}  # fmt: skip
    print(json.dumps(summary))


def service_measured(run: Run, service: str) -> bool:
    return all(service in run.rss[size] for size in run.sizes)


def main(argv: list[str] | None = None) -> None:
    cli = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__)
    cli.add_argument("--sizes", default="25000,50000,100000,200000", help="tasks at each stop")
    cli.add_argument("--flower-at", type=int, default=100_000, help="0: no Flower")
    cli.add_argument("--list-runs", type=int, default=100, help="requests per list query")
    cli.add_argument("--point-runs", type=int, default=300, help="requests per point query")
    cli.add_argument("--rate", type=float, default=250.0, help="tasks published a second")
    cli.add_argument(
        "--seeded",
        action="store_true",
        help="write each size straight into its own database (bench.seeded), no pipeline",
    )
    cli.add_argument(
        "--no-replay",
        action="store_true",
        help="skip projecting the log again (live and rebuild) at the largest size",
    )
    args = cli.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    flower_at = args.flower_at if args.flower_at in sizes else None
    shown = ", ".join(f"{s:,}" for s in sizes)
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start; sizes "
          f"{shown}; Flower at {flower_at or 'none'}", flush=True)  # fmt: skip
    run = Run(sizes, args.list_runs, args.point_runs, args.rate, not args.no_replay)
    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    if args.seeded:
        execute_seeded(run, flower_at, work)
    else:
        execute(run, flower_at, work)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    report(run, flower_at)


if __name__ == "__main__":
    main()
