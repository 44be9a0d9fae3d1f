"""Realistic Celery task lifecycles as broker messages, for the projection benchmark.

Each task is sent by a client (one ``task.sent`` message) and run by one of ``WORKERS``
workers, which buffer their events and flush them as ``task.multi`` lists of ``MULTI``
events, as Celery does. Most tasks succeed; some fail, some are retried once and then
succeed. Arguments look like the seed's scan tasks, so label rules have work to do.
Workers send a heartbeat every ``HEARTBEAT`` seconds of traffic.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.firehose import MULTI, envelope, heartbeat_fields, sent_fields

WORKERS = 8
HEARTBEAT = 2.0
CLIENT = "client@bench"
NAMES = ("scan.tasks.port_enumerate", "scan.tasks.resolve", "scan.tasks.fingerprint")
LABELS = [{"label": "cidr_id", "task": "scan.tasks.*", "arg": 0}]
"""The label rule the benchmark configures, as ``TASKTRAIL_PROJECTOR_LABELS`` takes it."""


@dataclass
class Message:
    routing_key: str
    payload: bytes
    events: int
    at: float
    final: list[str] = field(default_factory=list)
    """Tasks whose final event this message carries (what freshness waits for)."""


class Traffic:
    """Generates messages; ``clock`` stamps events (wall time for live traffic)."""

    def __init__(self, seed: int = 7, clock: Callable[[], float] = time.time) -> None:
        self.random = random.Random(seed)
        self.clock = clock
        self.counter = 0
        self.tasks = 0
        self.buffers: dict[str, list[dict[str, object]]] = {}
        self.finals: dict[str, list[str]] = {}
        self.final_times: dict[str, float] = {}
        """Task id -> timestamp of its final event."""
        self.last_beat = -1e9

    def _event(self, kind: str, hostname: str, **fields: object) -> dict[str, object]:
        self.counter += 1
        return {
            "hostname": hostname,
            "utcoffset": 0,
            "pid": 4000 + int(hostname[6]) if hostname.startswith("worker") else 99,
            "clock": self.counter,
            "timestamp": self.clock(),
            "type": kind,
            **fields,
        }

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.random.getrandbits(128), version=4))

    def task(self) -> list[Message]:
        """One task's client message, plus any worker buffer its events filled."""
        self.tasks += 1
        task_id, name = self._uuid(), self.random.choice(NAMES)
        worker = f"worker{self.tasks % WORKERS}@bench"
        args = f"('{self._uuid()}', [{{'packet': UUID('{self._uuid()}'), 'ports': [80, 443]}}])"
        sent = self._event("task-sent", CLIENT, **sent_fields(task_id, name, args))
        out = [Message("task.sent", envelope("task.sent", sent, CLIENT), 1, self.clock())]
        buffer = self.buffers.setdefault(worker, [])
        received = {"uuid": task_id, "name": name, "args": args, "kwargs": "{}", "retries": 0}
        roll = self.random.random()
        if roll < 0.03:  # retried once, then succeeds
            buffer += [
                self._event("task-received", worker, **received),
                self._event("task-started", worker, uuid=task_id),
                self._event("task-retried", worker, uuid=task_id, exception="Busy()"),
                self._event("task-received", worker, **{**received, "retries": 1}),
            ]
        else:
            buffer.append(self._event("task-received", worker, **received))
        buffer.append(self._event("task-started", worker, uuid=task_id))
        if 0.03 <= roll < 0.10:
            buffer.append(
                self._event(
                    "task-failed",
                    worker,
                    uuid=task_id,
                    exception="ValueError('boom')",
                    traceback="Traceback (most recent call last):\n  ...\nValueError: boom\n",
                )
            )
        else:
            runtime = round(self.random.lognormvariate(-3, 1.2), 6)
            buffer.append(
                self._event("task-succeeded", worker, uuid=task_id, result="'ok'", runtime=runtime)
            )
        self.finals.setdefault(worker, []).append(task_id)
        self.final_times[task_id] = float(buffer[-1]["timestamp"])  # type: ignore[arg-type]
        while len(self.buffers[worker]) >= MULTI:
            out.append(self._flush(worker, MULTI))
        out.extend(self.heartbeats())
        return out

    def _flush(self, worker: str, size: int) -> Message:
        buffer = self.buffers[worker]
        flushed, self.buffers[worker] = buffer[:size], buffer[size:]
        done = {str(e["uuid"]) for e in flushed if e["type"] in ("task-succeeded", "task-failed")}
        finals = [t for t in self.finals.get(worker, []) if t in done]
        self.finals[worker] = [t for t in self.finals.get(worker, []) if t not in done]
        body = envelope("task.multi", flushed, worker)
        return Message("task.multi", body, len(flushed), self.clock(), finals)

    def flush_all(self) -> list[Message]:
        """What the workers still buffer (Celery flushes on a timer too)."""
        return [self._flush(w, len(b)) for w, b in sorted(self.buffers.items()) if b]

    def heartbeats(self, force: bool = False) -> list[Message]:
        now = self.clock()
        if not force and now - self.last_beat < HEARTBEAT:
            return []
        self.last_beat = now
        messages = []
        for w in range(WORKERS):
            host = f"worker{w}@bench"
            beat = self._event("worker-heartbeat", host, **heartbeat_fields(HEARTBEAT, self.tasks))
            messages.append(
                Message("worker.heartbeat", envelope("worker.heartbeat", beat, host), 1, now)
            )
        return messages


def synthetic(events: int, rate: float, start: float = 1_795_000_000.0) -> list[Message]:
    """At least ``events`` events, stamped as if they came at ``rate`` per second from
    ``start``, with every worker buffer flushed at the end."""
    clock = [start]

    def tick() -> float:
        clock[0] += 1 / rate
        return clock[0]

    traffic = Traffic(clock=tick)
    messages: list[Message] = []
    total = 0
    while total < events:
        for message in traffic.task():
            messages.append(message)
            total += message.events
    return messages + traffic.flush_all()
