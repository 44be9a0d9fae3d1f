"""Alert latency benchmark: from a failing task's event to the webhook receiver, under load.

The embedded stack (Redis broker, NATS JetStream, the MongoDB-wire server) and the services
as processes (collector, projector, API, notifier). A ``task_failed`` rule (task names
``bench.fail.*``) sends to a webhook receiver in this process. Background traffic goes onto
the broker's event channel as Celery publishes it (``bench.firehose``: task lifecycles and
heartbeats) at ``--rate`` events/s for ``--seconds``; meanwhile, every ``--every`` seconds,
a task of a new name is received and fails. Each failure opens an incident of its own, and
its latency is the time from publishing its ``task-failed`` event to the receiver reading
the notification (both clocks are this machine's). The table gives p50, p99 (nearest rank)
and the worst; goal p99 <= 2 s at 1,000 events/s. A measurement, not a test.

    python -m bench.alerts [--rate 1000] [--seconds 30] [--every 0.25]
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import secrets
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import redis
from tasktrail_devstack.processes import ServiceProcess, find_binary
from tasktrail_devstack.servers import free_port

from bench.api import embedded_servers, environment
from bench.firehose import envelope
from bench.ingest import publish_step

SERVICES = ("collector", "projector", "api", "notifier")
PREFIX = "bench.fail."
WORKER = "celery@bench-failing"
CHANNEL = "/0.celeryev/"


class Receiver:
    """A webhook receiver: when each firing notification arrived, by incident key."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.time()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if body.get("status") == "firing":
                    receiver.arrived.setdefault(str(body["incident"]["key"]), at)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def fail_one(client: redis.Redis, name: str) -> float:
    """A task of ``name`` received, then failed; returns when its failure was published."""
    task_id = str(uuid.uuid4())
    common = {"hostname": WORKER, "utcoffset": 0, "pid": 1, "clock": 1, "uuid": task_id}
    received = {**common, "type": "task-received", "name": name, "timestamp": time.time()}
    client.publish(CHANNEL + "task.received", envelope("task.received", received, WORKER))
    published = time.time()
    failed = {**common, "type": "task-failed", "exception": "ValueError('bench')",
              "timestamp": published}  # fmt: skip
    client.publish(CHANNEL + "task.failed", envelope("task.failed", failed, WORKER))
    return published


def configure(api: httpx.Client, url: str) -> None:
    hook = {"name": "bench", "type": "webhook", "config": {"url": url, "secret": "bench"}}
    channel = api.post("/monitor/alerts/channels", json=hook)
    channel.raise_for_status()
    rule = {"name": "bench failures", "kind": "task_failed", "filter": {"name": PREFIX + "*"},
            "channels": [channel.json()["data"]["channel"]["id"]]}  # fmt: skip
    api.post("/monitor/alerts/rules", json=rule).raise_for_status()


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def execute(rate: int, seconds: float, every: float, work: Path) -> dict[str, Any]:
    token, port = secrets.token_urlsafe(16), free_port()
    receiver = Receiver()
    with ExitStack() as stack:
        servers = embedded_servers(stack, work)
        env = {**environment(servers, token, port, work),
               "TASKTRAIL_NOTIFIER_HEALTH_PORT": str(free_port()),
               "TASKTRAIL_CONTROL_HEALTH_PORT": "0"}  # fmt: skip
        for name in SERVICES:
            stack.enter_context(
                ServiceProcess(
                    name, [find_binary(f"tasktrail-{name}")], log_path=work / f"{name}.log", env=env
                )
            )
        api = stack.enter_context(
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30,
                         headers={"Authorization": f"Bearer {token}"})
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while not _ready(api) and time.monotonic() < deadline:
            time.sleep(0.2)
        configure(api, receiver.url)
        time.sleep(3)  # the collector subscribed, the notifier read its rule
        client = redis.Redis.from_url(servers["redis"])
        queue: mp.Queue[tuple[int, float]] = mp.Queue()
        load = mp.Process(target=publish_step, args=(servers["redis"], rate, seconds, queue))
        load.start()
        sent: dict[str, float] = {}
        started = time.monotonic()
        while time.monotonic() - started < seconds:
            name = f"{PREFIX}{len(sent)}"
            sent[name] = fail_one(client, name)
            time.sleep(every)
        background, elapsed = queue.get(timeout=seconds + 120)
        load.join()
        give_up = time.monotonic() + 30
        while len(receiver.arrived) < len(sent) and time.monotonic() < give_up:
            time.sleep(0.2)
        receiver.server.shutdown()
    latencies = [receiver.arrived[n] - t for n, t in sent.items() if n in receiver.arrived]
    return {"sent": len(sent), "latencies": latencies, "background": background / elapsed}


def _ready(api: httpx.Client) -> bool:
    try:
        return api.get("/readyz").status_code == 200
    except httpx.HTTPError:
        return False


def report(rate: int, found: dict[str, Any]) -> None:
    latencies: list[float] = found["latencies"]
    print(f"\n{'failing event -> webhook (s)':<30}{'samples':>9}{'lost':>6}{'p50':>8}{'p99':>8}"
          f"{'max':>8}{'background ev/s':>17}")  # fmt: skip
    if not latencies:
        print(f"{'':<30}{0:>9}{found['sent']:>6}  (none arrived)")
        return
    p50, p99 = nearest_rank(latencies, 0.5), nearest_rank(latencies, 0.99)
    lost = found["sent"] - len(latencies)
    print(f"{f'at {rate:,} events/s':<30}{len(latencies):>9}{lost:>6}{p50:>8.3f}{p99:>8.3f}"
          f"{max(latencies):>8.3f}{found['background']:>17,.0f}")  # fmt: skip
    print(f"goal p99 <= 2 s: {'met' if p99 <= 2 else 'NOT met'}; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=1000, help="background events per second")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=0.25, help="seconds between failures")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as work:
        report(args.rate, execute(args.rate, args.seconds, args.every, Path(work)))


if __name__ == "__main__":
    main()
