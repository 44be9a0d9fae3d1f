"""Scheduled-jobs tests: the projector with a quick schedule sweep, the API behind a real
HTTP server (the clients post from threads of their own), and waiting for what the API
shows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx
import uvicorn
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.app import create_app
from tasktrail_api.settings import Settings
from tasktrail_devstack.servers import free_port
from tasktrail_projector.bootstrap import Projection

from tests.integration.api.support import Doc, projecting

SWEEP_INTERVAL = 0.2


def projecting_schedules(
    nats_url: str, nats_stream: str, mongo_url: str, db: AsyncDatabase[Doc], app: str
) -> AbstractAsyncContextManager[Projection]:
    """The real projector (:func:`projecting`), its schedule sweep every
    :data:`SWEEP_INTERVAL` seconds."""
    return projecting(
        nats_url, nats_stream, mongo_url, db, app, projector_schedule_interval=SWEEP_INTERVAL
    )


@contextlib.asynccontextmanager
async def serving(settings: Settings, port: int | None = None) -> AsyncIterator[str]:
    """The API behind uvicorn on ``port`` (a free one by default); its base URL."""
    port = port or free_port()
    config = uvicorn.Config(
        create_app(settings), host="127.0.0.1", port=port, log_level="warning",
        timeout_graceful_shutdown=1,
    )  # fmt: skip
    server = uvicorn.Server(config)
    running = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await running


async def wait_until(
    client: httpx.AsyncClient,
    path: str,
    holds: Callable[[Any], bool],
    key: str,
    timeout: float = 30,
    **params: Any,
) -> Any:
    """Poll ``path`` until ``holds(data[key])``; the last value read."""
    value: Any = None
    try:
        async with asyncio.timeout(timeout):
            while True:
                response = await client.get(path, params=params)
                if response.status_code == 200:
                    value = response.json()["data"][key]
                    if holds(value):
                        return value
                await asyncio.sleep(0.1)
    except TimeoutError:
        raise AssertionError(f"{path}: still {value!r} after {timeout}s") from None


def job_named(jobs: list[dict[str, Any]], job_id: str) -> dict[str, Any] | None:
    return next((j for j in jobs if j["job_id"] == job_id), None)
