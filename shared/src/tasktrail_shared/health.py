"""A minimal HTTP server for ``/healthz``, ``/readyz`` and ``/metrics`` in services that have
no web framework.

``/healthz`` answers 200 while the process runs; ``/readyz`` runs the service's readiness
check (which must really ping its dependencies) and answers 200 or 503. A service may add
counters to both bodies (the collector does: received, published, spooled...), so that one
request tells whether events flow. ``/metrics`` says the same to Prometheus: the process's
own figures (``process_*``) and the service's counters, ``tasktrail_<service>_<counter>``
(``_total`` for a count, bare for a level the service names in ``levels``). They are this
process's and restart at zero with it; the cluster-wide figures are the API's ``/metrics``.
Services run their work inside :func:`health_served`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from tasktrail_shared import process_metrics
from tasktrail_shared.exposition import CONTENT_TYPE, Exposition

log = logging.getLogger(__name__)

ReadyCheck = Callable[[], Awaitable[dict[str, bool]]]
Counters = Callable[[], dict[str, int]]
_REASONS = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}
JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Exposed:
    """What a service's health port tells about it beyond readiness."""

    service: str
    """Its name in metric names: ``tasktrail_<service>_...``."""
    counters: Counters | None = None
    levels: Collection[str] = field(default_factory=frozenset)
    """The keys of ``counters`` that are levels (gauges: a backlog), not counts."""

    def metrics(self) -> str:
        out = Exposition()
        process_metrics.write(out, process_metrics.figures())
        for key, value in sorted((self.counters() if self.counters else {}).items()):
            name = f"tasktrail_{self.service}_{key}"
            if key in self.levels:
                out.family(name, "gauge", f"The {self.service}'s {key} now.", {(): value})
            else:
                out.family(name, "counter", f"The {self.service}'s {key} since start.", {(): value})
        return out.text()


async def _readiness(ready: ReadyCheck) -> tuple[int, dict[str, Any]]:
    try:
        checks = await asyncio.wait_for(ready(), timeout=5)
    except Exception as exc:  # a failing dependency means "not ready"
        log.warning("readiness check failed: %s", exc)
        checks = {"error": False}
    status = 200 if all(checks.values()) else 503
    return status, {"status": "ok" if status == 200 else "unavailable", "checks": checks}


async def _answer(path: str, ready: ReadyCheck, exposed: Exposed) -> tuple[int, str, bytes]:
    """The status, content type and body of the answer to ``GET path``."""
    body: dict[str, Any]
    if path == "/metrics":
        return 200, CONTENT_TYPE, exposed.metrics().encode()
    if path == "/healthz":
        status, body = 200, {"status": "ok"}
    elif path == "/readyz":
        status, body = await _readiness(ready)
    else:
        status, body = 404, {"status": "not found"}
    if exposed.counters is not None and status != 404:
        body["counters"] = exposed.counters()
    return status, JSON, json.dumps(body).encode()


async def serve_health(host: str, port: int, ready: ReadyCheck, exposed: Exposed) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)).strip():
                pass
            parts = request.decode("latin-1").split()
            path = parts[1].split("?")[0].rstrip("/") if len(parts) >= 2 else ""
            status, content_type, payload = await _answer(path, ready, exposed)
            writer.write(
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
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
    host: str, port: int, ready: ReadyCheck, exposed: Exposed
) -> AsyncIterator[None]:
    """Serve ``/healthz``, ``/readyz`` and ``/metrics`` on ``host:port`` while the block runs
    (port 0: no server); the server is closed, and its connections finished, when the block
    ends."""
    if not port:
        yield
        return
    server = await serve_health(host, port, ready, exposed)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()
