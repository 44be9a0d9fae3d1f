"""Celery event traffic exactly as Celery puts it on a Redis broker, at a chosen rate.

Clients publish one ``task.sent`` message per task; workers buffer their task events and
publish them as ``task.multi`` lists (``per_message`` events each, ``MULTI`` unless told),
plus a heartbeat every 2 s. With ``per_message=1`` workers publish each event alone under
its own routing key (``task.received``, ...), as a worker without an event buffer does.
Every message is unique (fresh uuids and delivery tags), as on a real broker, so none of it
is a legitimate duplicate.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass

MULTI = 24
"""Events per ``task.multi`` message (Celery's buffer flushes at about this size)."""
WORKERS = 8
CLIENT = "client@firehose"


def sent_fields(task_id: str, name: str, args: str) -> dict[str, object]:
    """What a client's ``task-sent`` event carries beside the common fields, for a root task
    on the default queue."""
    return {
        "uuid": task_id,
        "name": name,
        "args": args,
        "kwargs": "{}",
        "retries": 0,
        "eta": None,
        "expires": None,
        "queue": "celery",
        "exchange": "",
        "routing_key": "celery",
        "root_id": task_id,
        "parent_id": None,
    }


def heartbeat_fields(freq: float, processed: int) -> dict[str, object]:
    """What a worker's ``worker-heartbeat`` carries beside the common fields: one task
    active, a steady load, the Celery release the fixtures were recorded with."""
    return {
        "freq": freq,
        "active": 1,
        "processed": processed,
        "loadavg": [0.5, 0.4, 0.3],
        "sw_ident": "py-celery",
        "sw_ver": "5.7.0",
        "sw_sys": "Linux",
    }


def envelope(routing_key: str, body: object, hostname: str) -> bytes:
    """kombu's Redis envelope, field for field as the fixture in tests/fixtures shows."""
    raw = json.dumps(body).encode()
    return json.dumps(
        {
            "body": base64.b64encode(raw).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {"hostname": hostname},
            "properties": {
                "delivery_mode": 1,
                "delivery_info": {"exchange": "celeryev", "routing_key": routing_key},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
    ).encode()


@dataclass
class Batch:
    """Messages for one tick, with their routing keys and how many events each holds."""

    messages: list[tuple[str, bytes]]
    events: int


class Firehose:
    def __init__(self, db: int = 0, per_message: int = MULTI) -> None:
        self.prefix = f"/{db}.celeryev/"
        self.per_message = per_message
        self.clock = 0
        self._worker_buffers: dict[str, list[dict[str, object]]] = {}

    def _event(self, type_: str, hostname: str, **fields: object) -> dict[str, object]:
        self.clock += 1
        return {
            "hostname": hostname,
            "utcoffset": 0,
            "pid": 4242,
            "clock": self.clock,
            "timestamp": time.time(),
            "type": type_,
            **fields,
        }

    def tasks(self, count: int) -> Batch:
        """``count`` lifecycles: task-sent, then task-received, -started, -succeeded."""
        messages: list[tuple[str, bytes]] = []
        events = 0
        for i in range(count):
            task_id = str(uuid.uuid4())
            worker = f"bench{i % WORKERS}@firehose"
            args = f"('{uuid.uuid4()}', 8080, 'http')"
            sent = self._event(
                "task-sent", CLIENT, **sent_fields(task_id, "scan.tasks.port_enumerate", args)
            )
            messages.append((self.prefix + "task.sent", envelope("task.sent", sent, CLIENT)))
            events += 1
            worked = [
                self._event("task-received", worker, uuid=task_id, name="scan"),
                self._event("task-started", worker, uuid=task_id),
                self._event("task-succeeded", worker, uuid=task_id, result="'ok'", runtime=0.0123),
            ]
            if self.per_message == 1:
                messages.extend(self._single(event, worker) for event in worked)
                events += len(worked)
                continue
            buffer = self._worker_buffers.setdefault(worker, [])
            buffer.extend(worked)
            size = self.per_message
            while len(buffer) >= size:
                flushed, buffer = buffer[:size], buffer[size:]
                messages.append(
                    (self.prefix + "task.multi", envelope("task.multi", flushed, worker))
                )
                events += len(flushed)
            self._worker_buffers[worker] = buffer
        return Batch(messages, events)

    def _single(self, event: dict[str, object], worker: str) -> tuple[str, bytes]:
        key = str(event["type"]).replace("-", ".")
        return self.prefix + key, envelope(key, event, worker)

    def heartbeats(self) -> Batch:
        messages = []
        for w in range(WORKERS):
            host = f"bench{w}@firehose"
            beat = self._event("worker-heartbeat", host, **heartbeat_fields(2.0, self.clock))
            messages.append(
                (self.prefix + "worker.heartbeat", envelope("worker.heartbeat", beat, host))
            )
        return Batch(messages, len(messages))
