"""The collector's one job: every broker message on the event channel becomes one stream message.

The bytes are not decoded here (the projector does that): the less the collector does per
message, the higher the rate it keeps up with, and the stream keeps exactly what the broker
delivered. What fails the cheap checks of :mod:`screening` goes to the dead letters instead.
Sources push messages in synchronously; the publisher drains the outbox on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from typing import Protocol

from tasktrail_shared.celery_wire import amqp_extra_headers
from tasktrail_shared.stream_message import JSON, celery_stream_message

from tasktrail_collector import screening
from tasktrail_collector.encoding import (
    EncodedMessage,
    RedisEncoder,
    encode_deadletter,
    encode_stream_message,
)
from tasktrail_collector.outbox import Outbox
from tasktrail_collector.stats import Counters

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BrokerMessage:
    """One message from a queue-based broker, body as delivered, and how to acknowledge it."""

    routing_key: str
    body: bytes
    content_type: str | None
    content_encoding: str | None
    compression: str | None
    settle: Callable[[], None]


class Intake(Protocol):
    """What sources hand messages to (the :class:`Collector`)."""

    def redis_batch(self, received: float, messages: list[tuple[bytes, bytes]]) -> None: ...
    def broker_message(self, message: BrokerMessage) -> None: ...


class Source(Protocol):
    async def run(self, intake: Intake, stop: asyncio.Event) -> None: ...
    async def ping(self) -> bool: ...
    async def close(self) -> None: ...


class Publisher(Protocol):
    @property
    def in_flight(self) -> int: ...

    async def start(self) -> None: ...
    def notify(self) -> None: ...
    def connected(self) -> bool: ...
    async def drain(self, timeout: float) -> bool: ...
    async def close(self) -> None: ...


@dataclass(eq=False)
class Collector:
    app: str
    source: Source
    outbox: Outbox
    counters: Counters
    _: KW_ONLY
    max_message_bytes: int = 1024 * 1024
    validate_every: int = 64
    drain_timeout: float = 30.0

    def __post_init__(self) -> None:
        self.publisher: Publisher | None = None
        self.source_id = f"tasktrail/collector/{socket.gethostname()}"
        self._redis = RedisEncoder(self.app, self.source_id)

    # --- intake: called by the sources, in the event loop, never blocking -----------------

    def redis_batch(self, received: float, messages: list[tuple[bytes, bytes]]) -> None:
        """Messages of one socket read: ``(channel, kombu envelope)``.

        The hottest loop of the collector (tens of thousands of messages a second): locals
        only, one screening call per message, and the accepted messages go to the outbox in
        one call (dead letters go to another stream, so their order against them is free).
        """
        encoder, check = self._redis, screening.check_redis
        encode, limit, every = encoder.encode, self.max_message_bytes, self.validate_every
        encoder.at(received)
        counted = self.counters.received
        accepted = []
        for channel, payload in messages:
            counted += 1
            key = channel[channel.rfind(b"/") + 1 :]
            reason = check(key, payload, limit)
            if reason is None and every and counted % every == 0:
                reason = screening.validate_redis(payload)
            if reason is None:
                accepted.append(encode(key, payload))
            else:
                self._reject(reason, channel.decode(errors="replace"), payload, received)
        self.counters.received = counted
        self.outbox.extend(accepted)
        self._notify()

    def broker_message(self, message: BrokerMessage) -> None:
        """One message of a queue-based broker (AMQP): acked once JetStream holds it."""
        self.counters.received += 1
        received = time.time()
        body = message.body
        reason = (
            screening.check_routing_key(message.routing_key.encode())
            or screening.check_size(body, self.max_message_bytes)
            or screening.check_body(body, message.content_type, message.compression)
        )
        if (
            reason is None
            and self.validate_every
            and (self.counters.received % self.validate_every == 0)
        ):
            reason = screening.validate_body(
                body, message.content_type, message.content_encoding, message.compression
            )
        if reason is not None:
            self._reject(reason, message.routing_key, body, received, message.settle)
        else:
            stream_message = celery_stream_message(
                app=self.app,
                routing_key=message.routing_key,
                data=body,
                source=self.source_id,
                datacontenttype=message.content_type or JSON,
                received=received,
                extra=amqp_extra_headers(message.content_encoding, message.compression),
            )
            self.outbox.put(encode_stream_message(stream_message, message.settle))
        self._notify()

    def _reject(
        self,
        reason: str,
        origin: str,
        data: bytes,
        received: float,
        settle: Callable[[], None] | None = None,
    ) -> None:
        self.counters.dead_lettered += 1
        if self.counters.dead_lettered <= 10 or self.counters.dead_lettered % 1000 == 0:
            log.warning("dead-lettered a message from %s: %s", origin, reason)
        self.outbox.put(
            encode_deadletter(
                app=self.app,
                source=self.source_id,
                reason=reason,
                origin=origin,
                data=data,
                received=received,
                settle=settle,
            )
        )

    def refused(self, message: EncodedMessage, reason: str) -> None:
        """JetStream will not take ``message``: keep it as a dead letter instead."""
        self._reject(reason, message.subject.decode(), message.data, time.time(), message.settle)

    def _notify(self) -> None:
        if self.publisher is not None:
            self.publisher.notify()

    # --- lifecycle --------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Take in until ``stop``, then publish what is buffered (up to the drain timeout)."""
        assert self.publisher is not None, "bootstrap sets the publisher"
        await self.publisher.start()
        flusher = asyncio.create_task(self._flush_spool())
        try:
            await self.source.run(self, stop)
        finally:
            drained = await self.publisher.drain(self.drain_timeout)
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            await self.publisher.close()
            left = self.outbox.close()
            await self.source.close()
            log.info(
                "collector stopped%s: %s",
                "" if drained else f", {left} messages left in the spool",
                self.stats(),
            )

    async def _flush_spool(self) -> None:
        while True:
            await asyncio.sleep(1)
            self.outbox.flush()

    def stats(self) -> dict[str, int]:
        in_flight = self.publisher.in_flight if self.publisher else 0
        return {
            **self.counters.as_dict(),
            "spooled": self.outbox.spooled,
            "in_spool": self.outbox.in_spool,
            "in_flight": in_flight,
            "backlog": len(self.outbox) + in_flight,
        }

    async def readiness(self) -> dict[str, bool]:
        nats = self.publisher is not None and self.publisher.connected()
        return {"broker": await self.source.ping(), "nats": nats}
