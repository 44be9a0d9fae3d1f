"""Round-trip time of each control command: NATS request -> control -> Celery -> reply.

Starts everything on 127.0.0.1 free ports in a temporary directory (NATS with JetStream,
Redis as broker and result backend, one demo Celery worker with -E, the control service in
this process) and prints the median of ``--runs`` requests per command.

    .venv/bin/python services/control/scripts/roundtrip.py [--runs 5] [--timeout 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nats
from celery import Celery
from celery.utils.saferepr import saferepr
from nats.aio.client import Client
from tasktrail_control.bootstrap import bootstrap
from tasktrail_control.settings import Settings
from tasktrail_devstack.processes import start_celery_worker
from tasktrail_devstack.servers import NatsServer, RedisServer
from tasktrail_shared.commands import CommandReply, CommandRequest, control_subject

APP = "rt"
WORKER = "rt1@tasktrail-bench"
DEMO = "tasktrail_devstack.demo.app"

Args = Callable[[], dict[str, Any]]


async def request(nc: Client, command: str, args: dict[str, Any], timeout: float) -> float:
    body = CommandRequest(command=command, args=args, timeout=timeout)  # type: ignore[arg-type]
    started = time.perf_counter()
    msg = await nc.request(control_subject(APP), body.model_dump_json().encode(), 30)
    elapsed = (time.perf_counter() - started) * 1000
    reply = CommandReply.model_validate_json(msg.data)
    if not reply.ok:
        raise RuntimeError(f"{command}: {reply.error}")
    return elapsed


async def main(runs: int, timeout: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        with NatsServer(base / "nats") as nats_server, RedisServer(base / "redis") as redis:
            broker, backend = redis.url, redis.db_url(1)
            env = {"TASKTRAIL_BROKER_URL": broker, "TASKTRAIL_RESULT_BACKEND": backend}
            worker = start_celery_worker(DEMO, env=env, name=WORKER, log_path=base / "w.log")
            client = Celery("rt-client", broker=broker, backend=backend)
            settings = Settings(
                app=APP,
                broker_url=broker,
                result_backend=backend,
                nats_url=nats_server.url,
                control_health_port=0,
            )
            wired = await bootstrap(settings)
            await wired.bus.serve(APP, wired.control.handle)
            nc = await nats.connect(nats_server.url)
            try:
                done = client.send_task("demo.add", args=[1, 2])
                done.get(timeout=20)
                named = {"names": [WORKER]}
                cases: list[tuple[str, str, Args]] = [
                    ("ping", "named worker", lambda: named),
                    ("ping", "all workers (waits the timeout)", dict),
                    (
                        "revoke",
                        "all workers (waits the timeout)",
                        lambda: {"ids": [uuid.uuid4().hex]},
                    ),
                    (
                        "revoke_by_stamped_headers",
                        "all workers (waits the timeout)",
                        lambda: {"headers": {"batch": uuid.uuid4().hex}},
                    ),
                    ("refresh", "named worker", lambda: {"names": [WORKER], "expected": [WORKER]}),
                    (
                        "refresh",
                        "all workers (ping waits the timeout)",
                        lambda: {"expected": [WORKER]},
                    ),
                    ("sync", "1 id", lambda: {"ids": [done.id]}),
                    (
                        "sync",
                        "1000 ids, 1 known",
                        lambda: {"ids": [done.id] + [uuid.uuid4().hex for _ in range(999)]},
                    ),
                    ("pool_grow", "named worker", lambda: named),
                    ("pool_shrink", "named worker", lambda: named),
                    (
                        "autoscale",
                        "named worker (not enabled)",
                        lambda: {**named, "max": 2, "min": 1},
                    ),
                    (
                        "rate_limit",
                        "named worker",
                        lambda: {**named, "task_name": "demo.scan", "rate": "100/s"},
                    ),
                    (
                        "time_limit",
                        "named worker",
                        lambda: {**named, "task_name": "demo.scan", "soft": 10, "hard": 20},
                    ),
                    ("add_consumer", "named worker", lambda: {**named, "queue": "rt-extra"}),
                    ("cancel_consumer", "named worker", lambda: {**named, "queue": "rt-extra"}),
                    ("purge", "empty queue", lambda: {"queue": "rt-nobody"}),
                    ("run", "demo.add", lambda: {"name": "demo.add", "args": [1, 2]}),
                    (
                        "retry",
                        "demo.fail",
                        lambda: {"id": "x", "name": "demo.fail", "args": saferepr(("rt",))},
                    ),
                    (
                        "shutdown",
                        "unknown worker (ping waits the timeout)",
                        lambda: {"names": ["ghost@x"]},
                    ),
                ]
                header = f"median ms (of {runs}; worker timeout {timeout:g} s)"
                print(f"{'command':28} {'case':42} {header}")
                for command, case, args in cases:
                    times = [await request(nc, command, args(), timeout) for _ in range(runs)]
                    print(f"{command:28} {case:42} {statistics.median(times):9.1f}")
                shutdowns = []
                for n in range(min(runs, 3)):
                    name = f"rt-doomed{n}@tasktrail-bench"
                    doomed = start_celery_worker(
                        DEMO,
                        env=env,
                        name=name,
                        log_path=base / f"{name}.log",
                        queues=["rt-doomed"],
                    )
                    shutdowns.append(await request(nc, "shutdown", {"names": [name]}, timeout))
                    doomed.stop()
                print(f"{'shutdown':28} {'named worker':42} {statistics.median(shutdowns):9.1f}")
            finally:
                await nc.close()
                await wired.bus.close()
                wired.remote.close()
                client.close()
                worker.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=1.0, help="worker reply timeout, s")
    options = parser.parse_args()
    asyncio.run(main(options.runs, options.timeout))
