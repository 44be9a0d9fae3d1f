"""API benchmark: tasktrail's read endpoints next to Flower's over the same tasks.

The same N task lifecycles are given to both: to tasktrail as read-model documents
bulk-inserted into a MongoDB-wire server (then the API's indexes are built, which is far
faster on SecantusDB than inserting into indexed collections), to Flower as the Celery
events that produce them, published on the Redis event channel until Flower's
``flower_events_total`` counts them all. Then each endpoint is called sequentially over
keep-alive HTTP and its latency percentiles are printed side by side.

    python -m bench.api                   # N = 20,000 (printed)
    python -m bench.api --tasks 100000    # the figure the quality bar names
"""

from __future__ import annotations

import argparse
import json
import random
import secrets
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis
from pymongo import IndexModel, MongoClient
from tasktrail_api.domain import indexes as api_indexes
from tasktrail_devstack.processes import ServiceProcess, find_binary
from tasktrail_devstack.servers import MongoServer, NatsServer, RedisServer, free_port
from tasktrail_projector.adapters.store import indexes as projector_indexes

from bench.firehose import envelope
from bench.ingest import flower_events

STATES = ["SUCCESS"] * 40 + ["FAILURE"] * 4 + ["STARTED"] * 2 + ["PENDING"] * 2 + ["REVOKED"]
NAMES = [f"scan.tasks.step{i}" for i in range(10)]
WORKERS = [f"celery@bench{i}" for i in range(8)]
CLIENT = "client@bench"
LIST_QUERY: dict[str, str | int] = {"status": "FAILURE", "sort": "-received", "limit": 100}
FLOWER_LIST: dict[str, str | int] = {"state": "FAILURE", "sort_by": "-received", "limit": 100}


@dataclass
class Task:
    uuid: str
    name: str
    state: str
    worker: str
    sent: float
    runtime: float
    cidr: str


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
        "lost": False, "_events": {}, "_records": {}, "_amend": {}, "_v": 1,
    }  # fmt: skip


def events(t: Task, clock: int) -> list[tuple[str, dict[str, Any]]]:
    """The Celery events of one lifecycle, as (routing key, event)."""

    def ev(kind: str, host: str, at: float, **fields: Any) -> tuple[str, dict[str, Any]]:
        body = {"hostname": host, "utcoffset": 0, "pid": 1, "clock": clock, "uuid": t.uuid,
                "timestamp": at, "type": kind, **fields}  # fmt: skip
        return kind.replace("-", "."), body

    received, started = t.sent + 0.002, t.sent + 0.003
    out = [ev("task-sent", CLIENT, t.sent, name=t.name, args=f"('{t.cidr}', 8080, 'http')",
              kwargs="{}", retries=0, eta=None, expires=None, queue="celery")]  # fmt: skip
    if t.state == "PENDING":
        return out
    out.append(ev("task-received", t.worker, received, name=t.name, args="()", kwargs="{}"))
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


def load_mongo(url: str, db: str, tasks: list[Task]) -> float:
    started = time.perf_counter()
    client: MongoClient[dict[str, Any]] = MongoClient(url, tz_aware=True)
    try:
        coll = client[db].tasks
        for i in range(0, len(tasks), 5000):
            coll.insert_many([document(t) for t in tasks[i : i + 5000]], ordered=False)
        for collection, models in projector_indexes().items():  # what production has
            client[db][collection].create_indexes(models)
        indexes = {"tasks": api_indexes.TASK_INDEXES, "workers": api_indexes.WORKER_INDEXES}
        for collection, specs in indexes.items():
            client[db][collection].create_indexes(
                [IndexModel(s["keys"], name=n) for n, s in specs.items()]
            )
    finally:
        client.close()
    return time.perf_counter() - started


def feed_flower(redis_url: str, flower_port: int, tasks: list[Task], backlog: int = 20_000) -> int:
    """Publish every event; never more than ``backlog`` ahead of what Flower has counted
    (Redis drops pub/sub messages for a subscriber whose buffer overflows)."""
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
            while sent - max(flower_events(flower_port), 0) > backlog:
                time.sleep(0.05)
    pipe.execute()
    deadline = time.monotonic() + 600
    while flower_events(flower_port) < sent and time.monotonic() < deadline:
        time.sleep(0.2)
    return sent


def timings(call: Callable[[], httpx.Response], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        response = call()
        samples.append((time.perf_counter() - start) * 1000)
        response.raise_for_status()
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main(argv: list[str] | None = None) -> None:
    cli = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__)
    cli.add_argument("--tasks", type=int, default=20_000, help="tasks in both (default 20,000)")
    cli.add_argument("--runs", type=int, default=500, help="requests per point endpoint")
    cli.add_argument("--list-runs", type=int, default=20, help="requests per list endpoint")
    cli.add_argument("--no-flower", action="store_true")
    args = cli.parse_args(argv)
    tasks = make_tasks(args.tasks)
    rng = random.Random(2)
    token = secrets.token_urlsafe(16)
    workdir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    print(f"N = {args.tasks:,} tasks; {args.runs} requests per point endpoint, "
          f"{args.list_runs} per list", flush=True)  # fmt: skip
    rows: dict[str, list[str]] = {}
    with (
        MongoServer(workdir / "mongo") as mongo_server,
        NatsServer(workdir / "nats") as nats_server,
        RedisServer(workdir / "redis") as redis_server,
    ):
        seconds = load_mongo(mongo_server.url, "bench", tasks)
        print(f"loaded MongoDB (bulk insert, then indexes) in {seconds:.1f} s", flush=True)
        port = free_port()
        env = {
            "TASKTRAIL_MONGO_URL": mongo_server.url, "TASKTRAIL_MONGO_DB": "bench",
            "TASKTRAIL_NATS_URL": nats_server.url, "TASKTRAIL_APP": "bench",
            "TASKTRAIL_ADMIN_TOKEN": token, "TASKTRAIL_API_PORT": str(port),
            "TASKTRAIL_LOG_LEVEL": "WARNING", "TASKTRAIL_API_READ_TIMEOUT": "120",
        }  # fmt: skip
        api = ServiceProcess(
            "api", [find_binary("tasktrail-api")], log_path=workdir / "api.log", env=env
        )
        with (
            api,
            httpx.Client(
                base_url=f"http://127.0.0.1:{port}",
                headers={"Authorization": f"Bearer {token}"},
                timeout=300,
            ) as client,
        ):
            api.wait_http_ok(f"http://127.0.0.1:{port}/readyz", 30)
            client.get("/monitor/tasks/dashboard")  # the first snapshot
            ours = {
                "GET task by id": timings(
                    lambda: client.get(f"/monitor/tasks/{rng.choice(tasks).uuid}"), args.runs
                ),
                "dashboard": timings(lambda: client.get("/monitor/tasks/dashboard"), args.runs),
                "list FAILURE by -received, 100": timings(
                    lambda: client.get("/monitor/tasks", params=LIST_QUERY), args.list_runs
                ),
                "list newest 100": timings(
                    lambda: client.get("/monitor/tasks", params={"limit": 100}), args.list_runs
                ),
            }
        theirs: dict[str, tuple[float, float]] = {}
        if not args.no_flower:
            theirs = run_flower(redis_server.url, workdir, tasks, rng, args)
    print()
    print(f"{'endpoint':<34} {'tasktrail p50':>13} {'p99':>9} {'Flower p50':>11} {'p99':>9} "
          f"{'p50 ratio':>9}")  # fmt: skip
    for name, (p50, p99) in ours.items():
        f50, f99 = theirs.get(name, (float("nan"), float("nan")))
        ratio = f"{f50 / p50:.1f}x" if theirs.get(name) else "-"
        rows[name] = [f"{p50:.1f}", f"{p99:.1f}", f"{f50:.1f}", f"{f99:.1f}", ratio]
        print(f"{name:<34} {p50:>10.1f} ms {p99:>6.1f} ms {f50:>8.1f} ms {f99:>6.1f} ms "
              f"{ratio:>9}")  # fmt: skip
    print("(ratio > 1: tasktrail is faster; Flower has no dashboard endpoint to compare)")
    print(json.dumps({"tasks": args.tasks, "rows": rows}))


def run_flower(
    redis_url: str, workdir: Path, tasks: list[Task], rng: random.Random, args: argparse.Namespace
) -> dict[str, tuple[float, float]]:
    port = free_port()
    flower = ServiceProcess(
        "flower",
        [find_binary("celery"), f"--broker={redis_url}", "flower", f"--port={port}",
         "--address=127.0.0.1", "--logging=warning", f"--max_tasks={len(tasks) + 1000}"],
        log_path=workdir / "flower.log",
        env={"FLOWER_UNAUTHENTICATED_API": "true"},  # its /api needs this since 2.0
    )  # fmt: skip
    with flower, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as client:
        flower.wait_until("flower metrics", lambda: flower_events(port) >= 0, 30)
        time.sleep(2)  # Flower subscribes to the event channel after start-up
        started = time.perf_counter()
        sent = feed_flower(redis_url, port, tasks)
        print(f"fed Flower {sent:,} events in {time.perf_counter() - started:.1f} s "
              f"(it counted {flower_events(port):,})", flush=True)  # fmt: skip
        return {
            "GET task by id": timings(
                lambda: client.get(f"/api/task/info/{rng.choice(tasks).uuid}"), args.runs
            ),
            "list FAILURE by -received, 100": timings(
                lambda: client.get("/api/tasks", params=FLOWER_LIST), args.list_runs
            ),
            "list newest 100": timings(
                lambda: client.get("/api/tasks", params={"limit": 100}), args.list_runs
            ),
        }


if __name__ == "__main__":
    main()
