"""Celery remote control (broadcast over the broker's pidbox), run off the event loop."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from celery import Celery
from kombu.exceptions import ChannelError

from tasktrail_control.handlers import Broadcast, Dispatch

EXTENDED = ("name", "args", "kwargs", "worker", "retries")
"""What a backend with ``result_extended`` keeps besides the state and result."""


class CeleryRemote:
    """Blocking Celery calls, each run in a thread so the NATS loop keeps serving.

    Broadcasts to named workers return as soon as all of them answered (Celery stops at as
    many replies as destinations); a broadcast to every worker waits the whole timeout.
    """

    def __init__(self, broker_url: str, result_backend: str | None) -> None:
        self.app = Celery("tasktrail-control", broker=broker_url, backend=result_backend)
        # task_send_sent_event: a task started from tasktrail shows up before a worker takes it.
        self.app.conf.update(broker_connection_retry_on_startup=True, task_send_sent_event=True)
        self._has_result_backend = bool(result_backend)

    @property
    def has_result_backend(self) -> bool:
        return self._has_result_backend

    async def broadcast(self, request: Broadcast) -> list[dict[str, Any]]:
        result = await asyncio.to_thread(
            self.app.control.broadcast,
            request.command,
            arguments=dict(request.arguments),
            destination=request.names,
            reply=True,
            timeout=request.timeout,
        )
        return list(result or [])

    async def shutdown(self, names: list[str]) -> None:
        """Celery's worker raises WorkerShutdown before replying, so nothing comes back."""
        await asyncio.to_thread(self.app.control.shutdown, destination=names)

    async def lookup(self, ids: list[str]) -> list[dict[str, Any]]:
        """What the result backend holds for each id (state ``PENDING`` when it has nothing)."""
        return await asyncio.to_thread(lambda: [self._meta(task_id) for task_id in ids])

    def _meta(self, task_id: str) -> dict[str, Any]:
        meta = self.app.backend.get_task_meta(task_id, cache=False)
        result = meta.get("result")
        if isinstance(result, BaseException):  # failures come back as exception instances
            result = repr(result)
        date_done = meta.get("date_done")
        if isinstance(date_done, datetime):
            date_done = date_done.isoformat()
        found = {
            "id": task_id,
            "state": meta.get("status"),
            "result": _plain(result),
            "traceback": meta.get("traceback"),
            "date_done": date_done,
        }
        found.update({key: _plain(meta.get(key)) for key in EXTENDED})
        return found

    async def purge(self, queue: str) -> int:
        def purge_queue() -> int:
            with self.app.connection_for_write() as conn:
                return int(conn.default_channel.queue_purge(queue) or 0)

        return await asyncio.to_thread(purge_queue)

    async def queue_lengths(self, queues: list[str]) -> dict[str, int]:
        """Messages waiting in each queue, as celery-exporter measures them: ``LLEN`` on Redis
        (where a queue is a list, absent when empty), a passive ``queue_declare`` elsewhere
        (AMQP answers the message count; a queue the broker does not have counts 0)."""

        def measure() -> dict[str, int]:
            with self.app.connection_for_write() as conn:
                transport = conn.transport_cls
                if transport in REDIS_TRANSPORTS:
                    client = conn.default_channel.client
                    return {queue: int(client.llen(queue)) for queue in queues}
                return {queue: _declared_length(conn, queue) for queue in queues}

        return await asyncio.to_thread(measure)

    async def send(self, task: Dispatch) -> str:
        options = asdict(task)
        result = await asyncio.to_thread(self.app.send_task, options.pop("name"), **options)
        return str(result.id)

    async def ready(self) -> bool:
        def check() -> bool:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
                return bool(conn.connected)

        try:
            return await asyncio.to_thread(check)
        except Exception:  # any broker error means "not ready"
            return False

    def close(self) -> None:
        self.app.close()


REDIS_TRANSPORTS = frozenset({"redis", "rediss", "sentinel"})


def _declared_length(conn: Any, queue: str) -> int:
    """On a channel of its own: AMQP closes the channel of a declare that names no queue."""
    try:
        with conn.channel() as channel:
            return int(channel.queue_declare(queue=queue, passive=True).message_count)
    except ChannelError as exc:
        if "NOT_FOUND" not in str(exc) and "404" not in str(exc):
            raise
        return 0  # the broker has no such queue: nothing waits in it


def _plain(value: Any) -> Any:
    """JSON-safe: a pickle backend may hand back objects the log cannot carry."""
    return json.loads(json.dumps(value, default=repr))
