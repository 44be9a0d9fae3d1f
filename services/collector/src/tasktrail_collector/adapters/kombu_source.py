"""Read Celery events from RabbitMQ (or any kombu transport) through a durable queue.

The queue is named, durable and bound to the ``celeryev`` topic exchange with ``#``, so
events wait in the broker while the collector restarts, and replicas share it (each event
goes to one of them). A message is acknowledged only once JetStream holds it: the intake
gets a ``settle`` callback, which queues the ack for this thread (kombu channels are not
thread-safe). Unacknowledged messages are redelivered after a crash; their content ids make
the copies duplicates that JetStream drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import kombu

from tasktrail_collector.channels import EVENT_EXCHANGE
from tasktrail_collector.service import BrokerMessage, Intake

log = logging.getLogger(__name__)
_kombu: Any = kombu  # kombu's API is untyped


@dataclass(frozen=True)
class QueueOptions:
    name: str
    message_ttl: float | None = None
    expires: float | None = None
    max_length: int | None = None
    prefetch: int = 2000


class KombuEventSource:
    def __init__(self, url: str, options: QueueOptions) -> None:
        self.url = url
        self.options = options
        self._connected = False
        self._acks: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def _queue(self) -> Any:
        o = self.options
        arguments: dict[str, Any] = {}
        if o.max_length is not None:
            arguments["x-max-length"] = o.max_length
        return _kombu.Queue(
            o.name,
            _kombu.Exchange(EVENT_EXCHANGE, type="topic"),
            routing_key="#",
            durable=True,
            auto_delete=False,
            message_ttl=o.message_ttl,
            expires=o.expires,
            queue_arguments=arguments or None,
        )

    async def ping(self) -> bool:
        return self._connected

    async def run(self, intake: Intake, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        deliver = intake.broker_message
        stopped = threading.Event()
        thread = threading.Thread(
            target=self._consume, args=(loop, deliver, stopped), name="kombu", daemon=True
        )
        thread.start()
        try:
            await stop.wait()
        finally:
            stopped.set()
            await asyncio.to_thread(thread.join, 10)

    def _consume(
        self,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[BrokerMessage], None],
        stopped: threading.Event,
    ) -> None:
        def on_message(message: Any) -> None:
            settle = self._acks.put
            try:
                body, compression = _as_delivered(message)
            except Exception as exc:  # never let one message stop the consumer
                log.warning("unreadable message (%s): %s", exc, message.delivery_info)
                body, compression = b"", None
            item = BrokerMessage(
                routing_key=message.delivery_info.get("routing_key", ""),
                body=body,
                content_type=message.content_type,
                content_encoding=message.content_encoding,
                compression=compression,
                settle=lambda: settle(message),
            )
            loop.call_soon_threadsafe(deliver, item)

        delay = 0.2
        while not stopped.is_set():
            try:
                with _kombu.Connection(self.url) as conn:
                    conn.ensure_connection(max_retries=1)
                    channel = conn.channel()
                    consumer = _kombu.Consumer(
                        channel, queues=[self._queue()], on_message=on_message, no_ack=False
                    )
                    consumer.qos(prefetch_count=self.options.prefetch)
                    with consumer:
                        self._connected = True
                        delay = 0.2
                        log.info("consuming queue %s", self.options.name)
                        while not stopped.is_set():
                            self._flush_acks()
                            with contextlib.suppress(socket.timeout, TimeoutError):
                                conn.drain_events(timeout=0.05)
                        self._flush_acks()
            except Exception as exc:  # kombu raises transport-specific errors; retry on all
                log.warning("broker connection failed (%s); retrying", exc)
                stopped.wait(delay)
                delay = min(delay * 2, 5.0)
            finally:
                self._connected = False

    def _flush_acks(self) -> None:
        while True:
            try:
                message = self._acks.get_nowait()
            except queue.Empty:
                return
            with contextlib.suppress(Exception):  # a message of a lost channel: redelivered
                message.ack()

    async def close(self) -> None:
        return None


def _as_delivered(message: Any) -> tuple[bytes, str | None]:
    """The body, and its compression if it still has one.

    kombu decompresses a body in ``Message.__init__`` (keeping it as is if that fails), so a
    compressed event reaches the stream uncompressed, without the ``compression`` header.
    """
    compression = (message.headers or {}).get("compression") if message.errors else None
    body = message.body
    return (body.encode() if isinstance(body, str) else bytes(body or b"")), compression


def check_url(url: str) -> None:
    """Fail at start, not in the consumer thread, on a URL no kombu transport handles."""
    try:
        _kombu.Connection(url).transport_cls  # noqa: B018 - resolves the transport
    except (KeyError, ImportError, ValueError) as exc:
        raise SystemExit(f"unsupported broker URL scheme: {url.split(':')[0]} ({exc})") from exc
