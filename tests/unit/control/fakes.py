"""In-memory stand-ins for Celery and the event publisher, shared by the control unit tests."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from tasktrail_control.handlers import Broadcast, Dispatch
from tasktrail_shared.stream_message import StreamMessage

INSPECT_ANSWERS: dict[str, Any] = {
    "stats": {"pool": {"processes": [1, 2]}},
    "active": [],
    "reserved": [],
    "registered": ["demo.add"],
    "active_queues": [{"name": "celery"}],
}


class FakeRemote:
    """Workers that answer every broadcast addressed to them, like Celery's pidbox."""

    def __init__(self, workers: list[str], *, backend: dict[str, dict[str, Any]] | None = None):
        self.workers = workers
        self.backend = backend
        self.broadcasts: list[tuple[str, dict[str, Any], list[str] | None]] = []
        self.shut: list[str] = []
        self.sent: list[dict[str, Any]] = []
        self.queues: dict[str, int] = {}
        self.errors: dict[str, str] = {}
        """command -> error every worker answers with."""
        self.delay = 0.0

    @property
    def has_result_backend(self) -> bool:
        return self.backend is not None

    async def broadcast(self, request: Broadcast) -> list[dict[str, Any]]:
        command, names = request.command, request.names
        self.broadcasts.append((command, dict(request.arguments), names))
        await asyncio.sleep(self.delay)
        targets = [w for w in self.workers if names is None or w in names]
        if command in self.errors:
            return [{w: {"error": self.errors[command]}} for w in targets]
        if command in INSPECT_ANSWERS:
            return [{w: INSPECT_ANSWERS[command]} for w in targets]
        answer = "pong" if command == "ping" else f"{command} done"
        return [{w: {"ok": answer}} for w in targets]

    async def shutdown(self, names: list[str]) -> None:
        self.shut.extend(names)

    async def lookup(self, ids: list[str]) -> list[dict[str, Any]]:
        assert self.backend is not None
        return [self.backend.get(i, {"id": i, "state": "PENDING"}) for i in ids]

    async def purge(self, queue: str) -> int:
        return self.queues.pop(queue, 0)

    async def send(self, task: Dispatch) -> str:
        self.sent.append(asdict(task))
        return f"task-{len(self.sent)}"


class RecordingPublisher:
    """Keeps what control publishes; ``failing`` makes JetStream unavailable."""

    def __init__(self) -> None:
        self.events: list[StreamMessage] = []
        self.failing = False

    async def publish(self, message: StreamMessage) -> None:
        if self.failing:
            raise ConnectionError("JetStream unavailable")
        self.events.append(message)

    def of_type(self, event_type: str) -> list[dict[str, Any]]:
        return [e.json() for e in self.events if e.type == event_type]
