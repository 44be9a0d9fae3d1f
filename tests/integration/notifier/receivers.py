"""Local receivers for the channels' notifications: a small HTTP server that records every
request (path, headers, body) and answers with the statuses it is told to, in order; it may
hold the first requests (read and recorded, not answered) until it is let go."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from tasktrail_devstack.servers import HOST


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    url: str = ""
    statuses: deque[int] = field(default_factory=deque)
    """Answers to give, in order; 200 once they are used up."""
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    hold: int = 0
    """How many of the first requests are held unanswered until :attr:`release` is set."""
    release: asyncio.Event = field(default_factory=asyncio.Event)
    held: list[Received] = field(default_factory=list)

    def answered(self, status: int) -> list[Received]:
        return [r for r in self.requests if r.status == status]

    async def wait_for(self, count: int, status: int = 200, timeout: float = 60) -> list[Received]:
        """The first ``count`` requests answered with ``status``, once they have arrived."""
        async with asyncio.timeout(timeout):
            while len(self.answered(status)) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.answered(status)[:count]

    async def wait_held(self, count: int, timeout: float = 60) -> list[Received]:
        async with asyncio.timeout(timeout):
            while len(self.held) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.held

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            method, path, _ = (await reader.readline()).decode().split(" ", 2)
            headers: dict[str, str] = {}
            while (line := (await reader.readline()).decode().strip()) != "":
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if len(self.held) < self.hold:
                self.held.append(Received(method, path, headers, body, 0, time.time()))
                self.arrived.set()
                await self.release.wait()
                return  # never answered: the sender is gone by then
            status = self.statuses.popleft() if self.statuses else 200
            self.requests.append(Received(method, path, headers, body, status, time.time()))
            self.arrived.set()
            answer = b'{"ok":true}' if status == 200 else b'{"ok":false}'
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(answer)}\r\nConnection: close\r\n\r\n".encode()
                + answer
            )
            await writer.drain()
        except (ConnectionError, ValueError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


@contextlib.asynccontextmanager
async def receiving(*statuses: int, hold: int = 0) -> AsyncIterator[Receiver]:
    receiver = Receiver(statuses=deque(statuses), hold=hold)
    server = await asyncio.start_server(receiver._handle, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    receiver.url = f"http://{HOST}:{port}"
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.close()
        await server.wait_closed()
