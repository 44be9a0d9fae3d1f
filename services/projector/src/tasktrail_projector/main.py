"""``tasktrail-projector``: project the event log into MongoDB until SIGINT/SIGTERM.

``tasktrail-projector rebuild --into <database> [--until <ISO time|sequence>] [--durable
<name>]`` replays the stream into an empty database instead, and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Sequence

from tasktrail_shared import logs
from tasktrail_shared.health import Exposed, health_served
from tasktrail_shared.runner import run_until_signalled

from tasktrail_projector.bootstrap import Projection, bootstrap, bootstrap_rebuild
from tasktrail_projector.rebuild import Until
from tasktrail_projector.settings import Settings

log = logging.getLogger("tasktrail.projector")


async def _connect(settings: Settings, stop: asyncio.Event) -> Projection | None:
    """Keep trying until NATS and MongoDB answer: the projector may start before them.

    A signal ends the wait even mid-attempt (the NATS client itself retries forever).
    """
    delay = 0.5
    stopped = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            attempt = asyncio.ensure_future(bootstrap(settings))
            await asyncio.wait({attempt, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not attempt.done():
                attempt.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await attempt
                return None
            if attempt.exception() is None:
                return attempt.result()
            log.warning("cannot start yet: %r; retrying in %.1fs", attempt.exception(), delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(stopped), timeout=delay)
            delay = min(delay * 2, 10.0)
        return None
    finally:
        stopped.cancel()


async def serve(settings: Settings, stop: asyncio.Event) -> None:
    projection = await _connect(settings, stop)
    if projection is None:
        return
    host, port = settings.projector_health_host, settings.projector_health_port
    try:
        exposed = Exposed("projector", projection.counters)
        async with health_served(host, port, projection.ready, exposed):
            log.info("projecting stream %s into %s", settings.stream, settings.mongo_db)
            await projection.run(stop)
    finally:
        await projection.close()
        log.info("projector stopped")


async def rebuild(settings: Settings, into: str, until: Until | None, durable: str | None) -> int:
    job = await bootstrap_rebuild(settings, into, until, durable, output=sys.stderr)
    try:
        report = await job.run()
    finally:
        await job.close()
    print(
        f"rebuilt {into} from stream {settings.stream}: {report.messages} messages "
        f"({report.events} events), up to sequence {report.last_seq} (end {report.end})"
        + (f", consumer {durable!r} left after it" if durable else ""),
        flush=True,
    )
    return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tasktrail-projector")
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="project the stream until stopped (the default)")
    replay = commands.add_parser("rebuild", help="replay the stream into an empty database")
    replay.add_argument("--into", required=True, help="database to build (must be empty)")
    replay.add_argument("--until", type=Until.parse, help="ISO 8601 time or stream sequence")
    replay.add_argument(
        "--durable", help="leave this durable consumer after the replay, for a live projector"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    settings = Settings()
    logs.setup("projector", settings.log_level)
    if args.command == "rebuild":
        try:
            code = asyncio.run(rebuild(settings, args.into, args.until, args.durable))
        except (ValueError, OSError) as exc:
            print(f"rebuild failed: {exc}", file=sys.stderr)
            code = 2
        sys.exit(code)
    run_until_signalled(lambda stop: serve(settings, stop))


if __name__ == "__main__":
    main()
