"""Entry point: ``tasktrail-collector``."""

from __future__ import annotations

import asyncio

from tasktrail_shared import logs
from tasktrail_shared.health import Exposed, health_served
from tasktrail_shared.runner import run_until_signalled

from tasktrail_collector.bootstrap import bootstrap
from tasktrail_collector.settings import Settings

LEVELS = frozenset({"in_spool", "in_flight", "backlog"})
"""The collector's figures that are levels now, not counts since start."""


async def _main(stop: asyncio.Event) -> None:
    settings = Settings()
    logs.setup("collector", settings.log_level)
    collector = await bootstrap(settings)
    host, port = settings.collector_health_host, settings.collector_health_port
    exposed = Exposed("collector", collector.stats, LEVELS)
    async with health_served(host, port, collector.readiness, exposed):
        await collector.run(stop)


def main() -> None:
    run_until_signalled(_main)
