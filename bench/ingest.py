"""Ingest benchmark: tasktrail's collector and Flower side by side on one Redis firehose.

For each message shape and rate step, publisher processes push Celery event traffic
(``task.sent`` messages and the workers' events, plus worker heartbeats) onto the Redis event
fanout. The shape is the number of events a worker puts in one message: 1 (each event alone
under its own routing key), 3 (a ``task.multi`` per task, as a lightly loaded worker flushes)
or 24 (a full ``task.multi`` buffer); with the ``task.sent`` message of each task, that is
1, 2 and 3.6 events per message on average. A publisher process is given at most
``--per-publisher`` messages/s; faster steps are split over several.
The collector's intake is counted in JetStream (per subject: a ``task.multi`` message holds
as many events as the shape says); Flower's from its ``flower_events_total`` metric, which
counts task events only, so the table compares task events. Both subscribe to the same
channel at once, and each step's rate is in task events/s.

Per shape, the summary gives each subscriber's highest *lossless* rate (everything sent
taken in, at that step and every lower one) and its highest rate *kept up* (lossless, and
its view complete within 1 s of the publishers' end: the collector's in the stream,
Flower's in its count), each with the collector's ratio to Flower. Steps last 10 s: in
shorter ones Redis's 32 MB buffer for a slow subscriber hides a deficit. Each row also gives
each subscriber's CPU per task event taken in, the figure that depends least on what else
runs on the machine.

    python -m bench.ingest [--per-message 1,3,24] [--rates 5000,10000,20000] [--repeat 3]

With ``--repeat``, every step runs that many times and the summary gives medians.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing as mp
import os
import socket
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import httpx
import nats
from tasktrail_devstack.processes import ServiceProcess, find_binary
from tasktrail_devstack.servers import NatsServer, RedisServer, free_port

from bench.firehose import Firehose

APP = "bench"
TICK = 0.01
DEFAULT_RATES = "5000,7500,10000,12500,15000,20000,40000,60000,80000,100000"


EVENTS_PER_TASK = 4
"""sent, received, started, succeeded"""


def events_per_message(per_message: int) -> float:
    """Average task events per message of a shape: one ``task.sent`` per task, then the
    worker's three events in messages of ``per_message``."""
    return EVENTS_PER_TASK / (1 + (EVENTS_PER_TASK - 1) / per_message)


def publish_commands(messages: list[tuple[str, bytes]]) -> bytes:
    """``PUBLISH channel payload`` for each message, as Redis reads commands (RESP)."""
    out = []
    for channel, payload in messages:
        name = channel.encode()
        out.append(
            b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%b\r\n$%d\r\n%b\r\n"
            % (len(name), name, len(payload), payload)
        )
    return b"".join(out)


class RawPublisher:
    """Writes pre-encoded commands to Redis and counts the replies.

    The load generator shares the 2 cores with what it measures: a client library's
    per-command work (redis-py's pipeline, some 10 us a message) would be taken from the
    collector and Flower, and in production the producers run elsewhere. So each tick is one
    pre-built buffer and one ``sendall``.
    """

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        self.sock = socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 6379))
        self.replies = 0

    def send(self, commands: bytes) -> None:
        self.sock.sendall(commands)
        self._read(block=False)

    def _read(self, block: bool) -> None:
        try:
            data = self.sock.recv(1 << 20, 0 if block else socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        self.replies += data.count(b"\r\n")

    def wait(self, commands: int) -> None:
        """Until Redis has answered ``commands`` publishes (so it has sent them all on)."""
        while self.replies < commands:
            self._read(block=True)
        self.sock.close()


def publish_step(
    url: str,
    rate: int,
    seconds: float,
    per_message: int,
    queue: mp.Queue,  # type: ignore[type-arg]
) -> None:
    """Runs in its own process: pre-build the step, then publish it on a 10 ms schedule."""
    hose = Firehose(per_message=per_message)
    ticks = int(seconds / TICK)
    per_tick_tasks = rate * TICK / EVENTS_PER_TASK
    batches = []
    task_events = messages = 0
    owed = 0.0
    for i in range(ticks):
        owed += per_tick_tasks
        count = int(owed)
        owed -= count
        batch = hose.tasks(count)
        task_events += batch.events
        if i % int(2 / TICK) == 0:
            batch.messages.extend(hose.heartbeats().messages)
        messages += len(batch.messages)
        batches.append(publish_commands(batch.messages))
    client = RawPublisher(url)
    start = time.perf_counter()
    for i, commands in enumerate(batches):
        client.send(commands)
        delay = start + (i + 1) * TICK - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    client.wait(messages)
    elapsed = time.perf_counter() - start
    queue.put((task_events, elapsed))


async def collector_events(nats_url: str, per_message: int) -> int:
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
            total += n * per_message
        elif ".task." in subject:
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


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Step:
    per_message: int
    rate: int
    achieved: float
    sent: int
    collector: int
    flower: int
    collector_tail: float
    """Seconds after the publishers finished until the last event was in the stream (for
    Flower: in its count): how late its view was (within the 0.1 s of a poll)."""
    flower_tail: float
    collector_rss: float
    flower_rss: float
    collector_cpu: float
    """CPU seconds the collector used during the step."""
    flower_cpu: float


@dataclass
class Stack:
    """The servers and the two subscribers one benchmark run measures."""

    redis_url: str
    nats_url: str
    flower_port: int
    collector_pid: int
    flower_pid: int


@dataclass
class Intake:
    """What each subscriber took in during a step, and when its intake last moved."""

    counts: tuple[int, int]
    """Task events in the stream, and in Flower's count."""
    moved: tuple[float, float]
    """``time.monotonic()`` of the last change of each count: until then the subscriber's
    view (the log; Flower's state) was still incomplete."""


Reading = Callable[[], Awaitable[int]]


async def watch(read: Reading, quiet: float = 1.5, limit: float = 20) -> tuple[int, float]:
    """Poll ``read`` until its value has not moved for ``quiet`` seconds (at most ``limit``);
    the last value and the ``time.monotonic()`` of its last change. A negative reading (no
    answer) counts as moving: a subscriber too busy to answer is still catching up."""
    value, moved = -1, time.monotonic()
    deadline = moved + limit
    while time.monotonic() < deadline:
        now = await read()
        if now < 0 or now != value:
            value, moved = (value if now < 0 else now), time.monotonic()
        elif time.monotonic() - moved > quiet:
            break
        await asyncio.sleep(0.1)
    return value, moved


async def settle(stack: Stack, base: tuple[int, int], per_message: int) -> Intake:
    """Watch the stream and Flower's count, each on its own (a stalled Flower must not delay
    the collector's readings), until both stop moving. Flower may stall for tens of seconds
    under overload: it gets a minute, then its count is -1 (unknown, not lossless)."""
    stream, flower = await asyncio.gather(
        watch(lambda: collector_events(stack.nats_url, per_message)),
        watch(lambda: asyncio.to_thread(flower_events, stack.flower_port), limit=60),
    )
    taken = flower[0] - base[1] if flower[0] >= 0 else -1
    return Intake((stream[0] - base[0], taken), (stream[1], flower[1]))


def run_publishers(
    url: str, rate: int, seconds: float, per_message: int, per_publisher: int
) -> tuple[int, float]:
    """Publish one step from as many processes as the rate needs; (task events, seconds)."""
    count = max(1, math.ceil(rate / events_per_message(per_message) / per_publisher))
    context = mp.get_context("spawn")
    queue: mp.Queue = context.Queue()  # type: ignore[type-arg]
    procs = [
        context.Process(target=publish_step, args=(url, rate // count, seconds, per_message, queue))
        for _ in range(count)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get() for _ in procs]
    for proc in procs:
        proc.join()
    return sum(r[0] for r in results), max(r[1] for r in results)


async def measure_step(
    stack: Stack, per_message: int, rate: int, seconds: float, per_publisher: int
) -> Step:
    """One step: wait for quiet, publish, wait until both intakes stop moving."""
    base = (await settle(stack, (0, 0), per_message)).counts
    while base[1] < 0:  # Flower still stalled from the step before
        base = (await settle(stack, (0, 0), per_message)).counts
    cpu = cpu_seconds(stack.collector_pid), cpu_seconds(stack.flower_pid)
    sent, elapsed = await asyncio.to_thread(
        run_publishers, stack.redis_url, rate, seconds, per_message, per_publisher
    )
    published = time.monotonic()
    got = await settle(stack, base, per_message)
    return Step(
        per_message,
        rate,
        sent / elapsed,
        sent,
        got.counts[0],
        got.counts[1],
        max(0.0, got.moved[0] - published),
        max(0.0, got.moved[1] - published),
        rss_mb(stack.collector_pid),
        rss_mb(stack.flower_pid),
        cpu_seconds(stack.collector_pid) - cpu[0],
        cpu_seconds(stack.flower_pid) - cpu[1],
    )


async def run(
    shapes: list[int],
    rates: list[int],
    seconds: float,
    workdir: Path,
    repeat: int = 1,
    per_publisher: int = 15_000,
) -> list[Step]:
    """Every shape, every rate (``repeat`` times), against one collector and one Flower."""
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
            "TASKTRAIL_COLLECTOR_SPOOL_DIR": str(workdir / "spool"),
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
            stack = Stack(
                redis_server.url,
                nats_server.url,
                flower_port,
                collector.pid,
                flower.pid,
            )
            for per_message in shapes:
                for rate in [r for _ in range(repeat) for r in rates]:
                    steps.append(
                        await measure_step(stack, per_message, rate, seconds, per_publisher)
                    )
                    print(_row(steps[-1]), flush=True)
    return steps


HEADER = (
    f"{'ev/msg':>6} {'target ev/s':>11} {'task ev/s':>10} {'sent':>9} {'collector':>10} "
    f"{'flower':>10} {'coll %':>7} {'flower %':>8} {'coll MB':>8} {'flower MB':>9} "
    f"{'coll us/ev':>10} {'flower us/ev':>12} {'coll tail s':>11} {'flower tail s':>13}"
)


def _row(s: Step) -> str:
    return (
        f"{s.per_message:>6} {s.rate:>11,} {s.achieved:>10,.0f} {s.sent:>9,} "
        f"{s.collector:>10,} {s.flower:>10,} "
        f"{100 * s.collector / s.sent:>6.1f}% {100 * s.flower / s.sent:>7.1f}% "
        f"{s.collector_rss:>8.0f} {s.flower_rss:>9.0f} "
        f"{per_event(s.collector_cpu, s.collector):>10.1f} "
        f"{per_event(s.flower_cpu, s.flower):>12.1f} "
        f"{s.collector_tail:>11.1f} {s.flower_tail:>13.1f}"
    )


def per_event(cpu: float, events: int) -> float:
    """CPU microseconds per task event taken in (heartbeats, a few per step, included)."""
    return 1e6 * cpu / events if events > 0 else float("nan")


TAIL_LIMIT = 1.0
"""Seconds after the publishers stopped within which a subscriber's view must be complete
for it to have *kept up*: later, it held the rate only on a buffer (Redis keeps up to 32 MB
for a slow subscriber; Flower queues what its receiver thread read in its own memory)."""


def took_all(step: Step, pick: str) -> bool:
    taken: int = getattr(step, pick)
    return taken >= step.sent


def kept_up(step: Step, pick: str) -> bool:
    """Everything sent taken in, and visible no more than ``TAIL_LIMIT`` after the end."""
    tail: float = getattr(step, f"{pick}_tail")
    return took_all(step, pick) and tail <= TAIL_LIMIT


def lossless(steps: list[Step], pick: str, test: Callable[[Step, str], bool] = took_all) -> int:
    """The highest rate the publishers reached up to which every run, at it and at every
    lower rate, passed ``test`` (a loss at a lower rate is not made good by luck at a higher
    one)."""
    best = 0
    for rate in sorted({s.rate for s in steps}):
        runs = [s for s in steps if s.rate == rate]
        if not all(test(s, pick) for s in runs):
            break
        best = int(min(s.achieved for s in runs))  # what the publishers reached, not the aim
    return best


def summary(steps: list[Step]) -> list[str]:
    """Per shape and target rate: medians over the runs of the achieved rate and intakes."""
    lines = [
        f"{'ev/msg':>6} {'target ev/s':>11} {'runs':>4} {'task ev/s':>10} "
        f"{'coll %':>7} {'flower %':>8}"
    ]
    for shape, rate in sorted({(s.per_message, s.rate) for s in steps}):
        runs = [s for s in steps if s.rate == rate and s.per_message == shape]
        coll = statistics.median(100 * s.collector / s.sent for s in runs)
        flower = statistics.median(100 * s.flower / s.sent for s in runs)
        achieved = statistics.median(s.achieved for s in runs)
        lines.append(
            f"{shape:>6} {rate:>11,} {len(runs):>4} {achieved:>10,.0f} "
            f"{coll:>6.1f}% {flower:>7.1f}%"
        )
    return lines


def ratios(steps: list[Step]) -> list[str]:
    """Per shape: the highest rate each took in whole (lossless), and the highest at which it
    also kept up (its view complete within ``TAIL_LIMIT``), with the collector's ratio."""
    lines = [
        f"{'ev/msg':>6} {'avg ev/msg':>10} | {'collector':>10} {'Flower':>8} {'ratio':>6} "
        f"| {'collector':>10} {'Flower':>8} {'ratio':>6}",
        f"{'':>17} | {'lossless':^26} | {'kept up (lossless, <= 1 s late)':^26}",
    ]
    for shape in sorted({s.per_message for s in steps}):
        mine = [s for s in steps if s.per_message == shape]
        cells = []
        for test in (took_all, kept_up):
            coll, flower = lossless(mine, "collector", test), lossless(mine, "flower", test)
            ratio = f"{coll / flower:.1f}x" if flower else "n/a"
            cells.append(f"{coll:>10,} {flower:>8,} {ratio:>6}")
        top_rate = max(s.rate for s in mine)
        top = all(took_all(s, "collector") for s in mine if s.rate == top_rate)
        lines.append(
            f"{shape:>6} {events_per_message(shape):>10.1f} | {cells[0]} | {cells[1]}"
            + ("  (collector lossless at the top step: more not tried)" if top else "")
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-message", default="1,3,24", help="events per worker message")
    parser.add_argument("--rates", default=DEFAULT_RATES, help="task events/s, per step")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument(
        "--per-publisher", type=int, default=15_000, help="messages/s one publisher sends"
    )
    args = parser.parse_args(argv)
    shapes = [int(n) for n in args.per_message.split(",")]
    rates = [int(r) for r in args.rates.split(",")]
    print(f"ingest: {args.seconds:.0f} s per step, {os.cpu_count()} cores, {args.repeat} run(s)")
    print(HEADER, flush=True)
    with tempfile.TemporaryDirectory(prefix="tasktrail-bench-") as tmp:
        steps = asyncio.run(
            run(shapes, rates, args.seconds, Path(tmp), args.repeat, args.per_publisher)
        )
    if args.repeat > 1:
        print("\n".join(summary(steps)))
    print("highest lossless rate (task events/s) per message shape:")
    print("\n".join(ratios(steps)))
    loss = [100 * (1 - s.flower / s.sent) for s in steps]
    print(f"Flower median loss over the steps: {statistics.median(loss):.1f}%")


if __name__ == "__main__":
    main()
