"""``/healthz`` and ``/readyz`` with the collector's counters in the body.

Like :mod:`tasktrail_shared.health`, plus the counters (received, published, duplicates,
dead-lettered, spooled, backlog), so that one request tells whether events flow.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

_REASONS = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}


async def serve_health(
    host: str,
    port: int,
    ready: Callable[[], Awaitable[dict[str, bool]]],
    counters: Callable[[], dict[str, int]],
) -> asyncio.Server:
    async def answer(path: str) -> tuple[int, dict[str, Any]]:
        if path == "/healthz":
            return 200, {"status": "ok", "counters": counters()}
        if path != "/readyz":
            return 404, {"status": "not found"}
        try:
            checks = await asyncio.wait_for(ready(), timeout=5)
        except Exception as exc:  # a failing dependency means "not ready"
            log.warning("readiness check failed: %s", exc)
            checks = {"error": False}
        status = 200 if all(checks.values()) else 503
        body = {"status": "ok" if status == 200 else "unavailable", "checks": checks}
        return status, {**body, "counters": counters()}

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)).strip():
                pass
            parts = request.decode("latin-1").split()
            path = parts[1].split("?")[0].rstrip("/") if len(parts) >= 2 else ""
            status, body = await answer(path)
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
