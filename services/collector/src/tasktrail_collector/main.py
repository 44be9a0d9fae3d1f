"""Entry point: ``tasktrail-collector``."""

from __future__ import annotations

import asyncio

from tasktrail_shared import logs
from tasktrail_shared.health import serve_health
from tasktrail_shared.runner import run_until_signalled

from tasktrail_collector.bootstrap import bootstrap
from tasktrail_collector.settings import Settings


async def _main(stop: asyncio.Event) -> None:
    settings = Settings()
    logs.setup("collector", settings.log_level)
    collector = await bootstrap(settings)
    server = None
    if settings.collector_health_port:
        server = await serve_health(
            settings.collector_health_host,
            settings.collector_health_port,
            collector.readiness,
            collector.stats,
        )
    try:
        await collector.run(stop)
    finally:
        if server is not None:
            server.close()


def main() -> None:
    run_until_signalled(_main)
