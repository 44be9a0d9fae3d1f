"""Rebuild rate: how fast ``tasktrail-projector rebuild`` replays the log, beside the live
projector over the same log.

``--events`` Celery events of realistic lifecycles (``project_traffic``) are put in a JetStream
stream as the collector stores them. The live projector, in this process and wired by its own
composition root, projects them into an empty database; then the rebuild, wired the same way
(``bootstrap_rebuild``), replays the same stream into another empty one, showing its progress.
Both rates are given in events/s and messages/s. The embedded MongoDB-wire server does some
1,000-2,000 indexed writes/s (decision 2): point ``--mongo-url`` at a real MongoDB for real
numbers.

    python -m bench.rebuild [--events 20000] [--batch 500] [--mongo-url URL]

Another benchmark that has filled a stream calls :func:`rebuild_rate` (and :func:`live_rate`)
on it, with the projector's :class:`Settings` for that stream and server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tasktrail_devstack.servers import MongoServer, NatsServer
from tasktrail_projector.bootstrap import bootstrap, bootstrap_rebuild
from tasktrail_projector.settings import Settings

from bench.project import bench_settings, drop_database, project_all, publish
from bench.project_traffic import synthetic


@dataclass(frozen=True, slots=True)
class Rate:
    """What one projection of the stream did, and in how long."""

    messages: int
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return _per_second(self.events, self.seconds)

    @property
    def messages_per_second(self) -> float:
        return _per_second(self.messages, self.seconds)


def _per_second(count: int, seconds: float) -> float:
    """0 when no time passed (nothing was measured), rather than a division by zero."""
    return count / seconds if seconds > 0 else 0.0


async def live_rate(settings: Settings, messages: int) -> Rate:
    """The live projector (its durable, its database) until it has projected ``messages``."""
    projection = await bootstrap(settings)
    elapsed = await project_all(projection, messages)
    stats = projection.projector.stats
    return Rate(stats.messages, stats.events, elapsed)


async def rebuild_rate(settings: Settings, into: str, output: TextIO | None = None) -> Rate:
    """``tasktrail-projector rebuild --into <into>`` over ``settings``' stream, timed from the
    first fetch to the end of its last sweep; ``output`` shows its progress as the CLI does."""
    job = await bootstrap_rebuild(settings, into, None, None, output=output)
    try:
        started = time.perf_counter()
        report = await job.run()
        elapsed = time.perf_counter() - started
    finally:
        await job.close()
    return Rate(report.messages, report.events, elapsed)


async def measure(nats_url: str, mongo_url: str, events: int, batch: int) -> tuple[Rate, Rate]:
    settings = bench_settings(nats_url, mongo_url, batch)
    messages = synthetic(events, 1000.0)
    await publish(nats_url, settings, messages)
    rebuilt = f"{settings.mongo_db}_rebuilt"
    try:
        live = await live_rate(settings, len(messages))
        rebuild = await rebuild_rate(settings, rebuilt, sys.stderr)
    finally:
        await drop_database(mongo_url, settings.mongo_db)
        await drop_database(mongo_url, rebuilt)
    return live, rebuild


def report(live: Rate, rebuild: Rate) -> None:
    heads = ("messages", 10), ("events", 10), ("seconds", 9), ("events/s", 10), ("msg/s", 9)
    print("\n" + " " * 10 + "".join(f" {head:>{width}}" for head, width in heads))
    for label, r in (("live", live), ("rebuild", rebuild)):
        print(
            f"{label:<10} {r.messages:>10,} {r.events:>10,} {r.seconds:>9.1f} "
            f"{r.events_per_second:>10,.0f} {r.messages_per_second:>9,.0f}"
        )
    if live.events_per_second:
        print(f"rebuild / live: {rebuild.events_per_second / live.events_per_second:.2f}x")


def main(argv: list[str] | None = None) -> None:
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    parser = argparse.ArgumentParser(prog="python -m bench.rebuild")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--mongo-url", help="measure against this server instead of SecantusDB")
    args = parser.parse_args(argv)
    logging.basicConfig(format="  %(message)s")  # the rebuild's progress lines (not a terminal)
    logging.getLogger("tasktrail.projector").setLevel(logging.INFO)
    with tempfile.TemporaryDirectory(prefix="tasktrail-bench-") as tmp:
        work = Path(tmp)
        with contextlib.ExitStack() as stack:
            mongo_url = args.mongo_url or stack.enter_context(MongoServer(work / "mongo")).url
            nats_server = stack.enter_context(NatsServer(work / "nats"))
            live, rebuild = asyncio.run(
                measure(nats_server.url, mongo_url, args.events, args.batch)
            )
    report(live, rebuild)


if __name__ == "__main__":
    main()
