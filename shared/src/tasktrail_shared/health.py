"""A minimal HTTP server for ``/healthz`` and ``/readyz`` in services that have no web framework.

``/healthz`` answers 200 while the process runs; ``/readyz`` runs the service's readiness
check (which must really ping its dependencies) and answers 200 or 503. A service may add
counters to both bodies (the collector does: received, published, spooled...), so that one
request tells whether events flow. Services run their work inside :func:`health_served`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[dict[str, bool]]]
Counters = Callable[[], dict[str, int]]
_REASONS = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}


async def _readiness(ready: ReadyCheck) -> tuple[int, dict[str, Any]]:
    try:
        checks = await asyncio.wait_for(ready(), timeout=5)
    except Exception as exc:  # a failing dependency means "not ready"
        log.warning("readiness check failed: %s", exc)
        checks = {"error": False}
    status = 200 if all(checks.values()) else 503
    return status, {"status": "ok" if status == 200 else "unavailable", "checks": checks}


async def _answer(
    path: str, ready: ReadyCheck, counters: Counters | None
) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any]
    if path == "/healthz":
        status, body = 200, {"status": "ok"}
    elif path == "/readyz":
        status, body = await _readiness(ready)
    else:
        return 404, {"status": "not found"}
    if counters is not None:
        body["counters"] = counters()
    return status, body


async def serve_health(
    host: str, port: int, ready: ReadyCheck, counters: Counters | None = None
) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)).strip():
                pass
            parts = request.decode("latin-1").split()
            path = parts[1].split("?")[0].rstrip("/") if len(parts) >= 2 else ""
            status, body = await _answer(path, ready, counters)
            payload = json.dumps(body).encode()
            writer.write(
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode()
                + payload
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


@asynccontextmanager
async def health_served(
    host: str, port: int, ready: ReadyCheck, counters: Counters | None = None
) -> AsyncIterator[None]:
    """Serve ``/healthz`` and ``/readyz`` on ``host:port`` while the block runs (port 0: no
    server); the server is closed, and its connections finished, when the block ends."""
    if not port:
        yield
        return
    server = await serve_health(host, port, ready, counters)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()
