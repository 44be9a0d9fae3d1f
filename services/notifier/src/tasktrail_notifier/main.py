"""Entry point: ``tasktrail-notifier``."""

from __future__ import annotations

import asyncio

from tasktrail_shared import logs
from tasktrail_shared.health import Exposed, health_served
from tasktrail_shared.runner import run_until_signalled

from tasktrail_notifier.bootstrap import bootstrap
from tasktrail_notifier.settings import Settings

LEVELS = frozenset({"open_incidents", "caught_up"})
"""The notifier's figures that are levels now, not counts since start."""


async def _main(stop: asyncio.Event) -> None:
    settings = Settings()
    logs.setup("notifier", settings.log_level)
    wired = await bootstrap(settings)
    await wired.notifier.start()
    host, port = settings.notifier_health_host, settings.notifier_health_port
    try:
        exposed = Exposed("notifier", wired.counters, LEVELS)
        async with health_served(host, port, wired.readiness, exposed):
            await wired.notifier.run(stop)
    finally:
        await wired.close()


def main() -> None:
    run_until_signalled(_main)
