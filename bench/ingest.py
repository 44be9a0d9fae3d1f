"""Ingest benchmark: tasktrail's collector and Flower side by side on one Redis firehose.

For each rate step, publisher processes push Celery event traffic (``task.sent`` messages
and ``task.multi`` lists, as Celery does, plus worker heartbeats) onto the Redis event fanout;
one Python process tops out near 90,000 events/s here, so steps above ``--per-publisher``
are split over several.
The collector's intake is counted in JetStream (per subject: a ``task.multi`` message holds
``MULTI`` events); Flower's from its ``flower_events_total`` metric, which counts task events
only, so the table compares task events. Both subscribe to the same channel at once.

    python -m bench.ingest [--rates 5000,10000,20000,50000] [--seconds 5] [--repeat 3]

With ``--repeat``, every step runs that many times and the summary gives medians.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import nats
import redis
from tasktrail_devstack.processes import ServiceProcess, find_binary
from tasktrail_devstack.servers import NatsServer, RedisServer, free_port

from bench.firehose import MULTI, Firehose

APP = "bench"
TICK = 0.01


def publish_step(url: str, rate: int, seconds: float, queue: mp.Queue) -> None:  # type: ignore[type-arg]
    """Runs in its own process: pre-build the step, then publish it on a 10 ms schedule."""
    hose = Firehose()
    client = redis.Redis.from_url(url)
    ticks = int(seconds / TICK)
    per_tick_tasks = rate * TICK / 4
    batches = []
    task_events = 0
    owed = 0.0
    for i in range(ticks):
        owed += per_tick_tasks
        count = int(owed)
        owed -= count
        batch = hose.tasks(count)
        task_events += batch.events
        if i % int(2 / TICK) == 0:
            batch.messages.extend(hose.heartbeats().messages)
        batches.append(batch)
    start = time.perf_counter()
    for i, batch in enumerate(batches):
        pipe = client.pipeline(transaction=False)
        for channel, payload in batch.messages:
            pipe.publish(channel, payload)
        pipe.execute()
        delay = start + (i + 1) * TICK - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    elapsed = time.perf_counter() - start
    queue.put((task_events, elapsed))


async def collector_events(nats_url: str) -> int:
    """Task events stored in the stream (heartbeats excluded, as Flower's metric does)."""
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().stream_info("TASKTRAIL", subjects_filter=">")
    finally:
        await nc.close()
    counts = info.state.subjects or {}
    total = 0
    for subject, n in counts.items():
        if subject.endswith(".task.multi"):
            total += n * MULTI
        elif subject.endswith(".task.sent"):
            total += n
    return total


def flower_events(port: int) -> int:
    """Flower's task event count; -1 while it does not answer (it stalls under overload)."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    except httpx.HTTPError:
        return -1
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("flower_events_total{")
        )
    )


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Step:
    rate: int
    achieved: float
    sent: int
    collector: int
    flower: int
    collector_rss: float
    flower_rss: float


async def settle(nats_url: str, flower_port: int, base: tuple[int, int]) -> tuple[int, int]:
    """Wait until both counts stop moving (up to 20 s), then return the step's intake."""
    last = (-1, -1)
    stable_since = time.monotonic()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        now = (await collector_events(nats_url), flower_events(flower_port))
        if now[1] < 0:  # no answer from Flower: not a reading
            await asyncio.sleep(0.25)
            continue
        if now != last:
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since > 1.5:
            break
        await asyncio.sleep(0.25)
    return last[0] - base[0], last[1] - base[1]


def run_publishers(url: str, rate: int, seconds: float, per_publisher: int) -> tuple[int, float]:
    """Publish one step from as many processes as the rate needs; (task events, seconds)."""
    count = max(1, -(-rate // per_publisher))
    context = mp.get_context("spawn")
    queue: mp.Queue = context.Queue()  # type: ignore[type-arg]
    procs = [
        context.Process(target=publish_step, args=(url, rate // count, seconds, queue))
        for _ in range(count)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    return sum(r[0] for r in results), max(r[1] for r in results)


async def run(
    rates: list[int], seconds: float, workdir: Path, repeat: int = 1, per_publisher: int = 60_000
) -> list[Step]:
    steps: list[Step] = []
    with (
        RedisServer(workdir / "redis") as redis_server,
        NatsServer(workdir / "nats") as nats_server,
    ):
        env = {
            "TASKTRAIL_BROKER_URL": redis_server.url,
            "TASKTRAIL_NATS_URL": nats_server.url,
            "TASKTRAIL_APP": APP,
            "TASKTRAIL_COLLECTOR_HEALTH_PORT": str(free_port()),
            "TASKTRAIL_LOG_LEVEL": "WARNING",
        }
        flower_port = free_port()
        collector = ServiceProcess(
            "collector", [find_binary("tasktrail-collector")], log_path=workdir / "c.log", env=env
        )
        flower = ServiceProcess(
            "flower",
            [
                find_binary("celery"),
                f"--broker={redis_server.url}",
                "flower",
                f"--port={flower_port}",
                "--address=127.0.0.1",
                "--logging=warning",
            ],
            log_path=workdir / "flower.log",
            env={},
        )
        with collector, flower:
            collector.wait_http_ok(
                f"http://127.0.0.1:{env['TASKTRAIL_COLLECTOR_HEALTH_PORT']}/readyz", 30
            )
            flower.wait_until("flower metrics", lambda: flower_events(flower_port) >= 0, 30)
            await asyncio.sleep(2)  # Flower subscribes to the event channel after start-up
            for rate in [r for _ in range(repeat) for r in rates]:
                base = await settle(nats_server.url, flower_port, (0, 0))
                sent, elapsed = await asyncio.to_thread(
                    run_publishers, redis_server.url, rate, seconds, per_publisher
                )
                got_collector, got_flower = await settle(nats_server.url, flower_port, base)
                steps.append(
                    Step(
                        rate,
                        sent / elapsed,
                        sent,
                        got_collector,
                        got_flower,
                        rss_mb(collector.pid),
                        rss_mb(flower.pid),
                    )
                )
                print(_row(steps[-1]), flush=True)
    return steps


HEADER = (
    f"{'target ev/s':>11} {'task ev/s':>10} {'sent':>9} {'collector':>10} {'flower':>10} "
    f"{'coll %':>7} {'flower %':>8} {'coll MB':>8} {'flower MB':>9}"
)


def _row(s: Step) -> str:
    return (
        f"{s.rate:>11,} {s.achieved:>10,.0f} {s.sent:>9,} {s.collector:>10,} {s.flower:>10,} "
        f"{100 * s.collector / s.sent:>6.1f}% {100 * s.flower / s.sent:>7.1f}% "
        f"{s.collector_rss:>8.0f} {s.flower_rss:>9.0f}"
    )


def lossless(steps: list[Step], pick: str) -> float:
    """The highest target rate at which every run took in everything sent."""
    rates = sorted({s.rate for s in steps})
    ok = [r for r in rates if all(getattr(s, pick) >= s.sent for s in steps if s.rate == r)]
    return float(max(ok)) if ok else 0.0


def summary(steps: list[Step]) -> list[str]:
    """Per target rate: medians over the runs of the achieved rate and of each intake."""
    lines = [f"{'target ev/s':>11} {'runs':>4} {'task ev/s':>10} {'coll %':>7} {'flower %':>8}"]
    for rate in sorted({s.rate for s in steps}):
        runs = [s for s in steps if s.rate == rate]
        coll = statistics.median(100 * s.collector / s.sent for s in runs)
        flower = statistics.median(100 * s.flower / s.sent for s in runs)
        achieved = statistics.median(s.achieved for s in runs)
        lines.append(f"{rate:>11,} {len(runs):>4} {achieved:>10,.0f} {coll:>6.1f}% {flower:>7.1f}%")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10000,20000,40000,60000,80000")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--per-publisher", type=int, default=60_000)
    args = parser.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",")]
    print(f"ingest: {args.seconds:.0f} s per step, {os.cpu_count()} cores, {args.repeat} run(s)")
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory(prefix="tasktrail-bench-") as tmp:
        steps = asyncio.run(run(rates, args.seconds, Path(tmp), args.repeat, args.per_publisher))
    if args.repeat > 1:
        print("\n".join(summary(steps)))
    best_collector, best_flower = lossless(steps, "collector"), lossless(steps, "flower")
    print(
        f"highest lossless rate: collector {best_collector:,.0f} ev/s, "
        f"Flower {best_flower:,.0f} ev/s",
        end="",
    )
    if best_flower:
        print(f", ratio {best_collector / best_flower:.1f}x")
    else:
        print()
    loss = [100 * (1 - s.flower / s.sent) for s in steps]
    print(f"Flower median loss over the steps: {statistics.median(loss):.1f}%")


if __name__ == "__main__":
    main()
