"""Entry point: ``tasktrail-control``."""

from __future__ import annotations

import asyncio

from tasktrail_shared import logs
from tasktrail_shared.health import Exposed, health_served
from tasktrail_shared.runner import run_until_signalled

from tasktrail_control.bootstrap import bootstrap
from tasktrail_control.settings import Settings


async def _main(stop: asyncio.Event) -> None:
    settings = Settings()
    logs.setup("control", settings.log_level)
    wired = await bootstrap(settings)
    await wired.bus.serve(settings.app, wired.control.handle)
    stop_sampling = asyncio.Event()
    sampling = None
    if settings.control_queue_interval > 0:
        sampling = asyncio.create_task(wired.sampler.run(stop_sampling))
    host, port = settings.control_health_host, settings.control_health_port
    try:
        async with health_served(host, port, wired.readiness, Exposed("control")):
            await stop.wait()
    finally:
        stop_sampling.set()
        if sampling is not None:
            await sampling
        await wired.counted.close()
        await wired.bus.close()
        wired.remote.close()


def main() -> None:
    run_until_signalled(_main)
