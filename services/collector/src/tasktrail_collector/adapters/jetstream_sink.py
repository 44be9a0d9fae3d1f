"""Publish encoded messages to JetStream: core publishes, one ack subscription, bounded in flight.

Each message's header block is already bytes, so a publish is one ``HPUB`` line joined to it
with a reply subject ``<prefix>.<n>``, and many are written per flush (through nats-py's
internals: :func:`write_pipelined`).
One wildcard subscription on ``<prefix>.*`` takes every ack, handed over by
:class:`PublishingClient` as raw bytes; only ``"error"`` and ``"duplicate"`` are looked for in
its JSON. A message unacknowledged after ``ack_timeout``,
or in flight when the connection drops, goes back to the front of the outbox and is sent
again: its ``Nats-Msg-Id`` makes that harmless if JetStream already stored it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass

from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.nuid import NUID
from tasktrail_shared.nats import ensure_stream
from tasktrail_shared.settings import StreamSettings

from tasktrail_collector.encoding import DEADLETTER_ROOT, EncodedMessage
from tasktrail_collector.outbox import Outbox
from tasktrail_collector.stats import Counters

log = logging.getLogger(__name__)

BATCH = 256
"""Messages written per flush."""
LINGER = 0.002
"""Seconds sending waits for a fuller batch when fewer than ``BATCH`` messages wait: fewer,
larger writes, each of which wakes the server once. A small saving (the kernel's share of
the collector's CPU is under a tenth); the delay is far below what freshness allows."""
MAX_ERROR_ACKS = 5
"""JetStream refused a message this often (not a timeout): it goes to the dead letters."""
UNANSWERED_PAUSE = (0.1, 2.0)
"""No stream answered: sending pauses this long, doubling from the first to the second
figure while nothing answers."""
_DEADLETTER = DEADLETTER_ROOT.encode()
_NO_RESPONDERS = b"503"
"""The status of the header block ``NATS/1.0 503`` a publish gets when no stream answers."""

RawHandler = Callable[[bytes, bytes, bytes | None], None]
"""Takes a message's subject, data and header block (``None`` without headers)."""


class PublishingClient(Client):
    """nats-py's client, handing the messages of chosen subscriptions straight to a function.

    nats-py turns each message it reads into a ``Msg`` (decoding subject and reply, parsing
    headers into a dict), queues it and wakes a task per subscription to run the callback: a
    few microseconds per JetStream ack, a fifth of the collector's CPU at 30,000 publishes/s.
    Acks need none of that. This overrides the private method nats-py's protocol parser
    calls for every message; the subscription stays an ordinary one (nats-py subscribes again
    after a reconnect). Covered with the other private calls (decision 0004).
    """

    def __init__(self) -> None:
        super().__init__()
        self._direct: dict[int, RawHandler] = {}

    def deliver_directly(self, sub: Subscription, handler: RawHandler) -> None:
        self._direct[sub._id] = handler

    async def _process_msg(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes | None
    ) -> None:
        handler = self._direct.get(sid)
        if handler is None:
            await super()._process_msg(sid, subject, reply, data, headers)  # type: ignore[arg-type]
        else:
            handler(subject, data, headers)


@dataclass(eq=False)
class JetStreamPublisher:
    """The collector's :class:`~tasktrail_collector.service.Publisher`: drains the outbox."""

    nc: PublishingClient
    outbox: Outbox
    counters: Counters
    _: KW_ONLY
    streams: Sequence[StreamSettings]
    max_in_flight: int
    ack_timeout: float
    reject: Callable[[EncodedMessage, str], None]

    def __post_init__(self) -> None:
        self._prefix = f"_TT_ACK.{NUID().next().decode()}"
        self._prefix_len = len(self._prefix) + 1
        self._reply = self._prefix.encode() + b"."
        self._seq = 0
        self._in_flight: dict[int, tuple[EncodedMessage, float]] = {}
        self._refusals: dict[bytes, int] = {}
        """Refusals so far, by header block (it holds the id), until stored or given up."""
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._paused_until = 0.0
        self._unanswered_pause = 0.0
        """The current pause while no stream answers; 0 once one does again."""
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    @property
    def refused_pending(self) -> int:
        """Messages JetStream refused that are neither stored nor given up yet."""
        return len(self._refusals)

    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    def notify(self) -> None:
        """New messages are in the outbox."""
        self._wake.set()

    async def start(self) -> None:
        """Create or update the streams, subscribe to acks, start sending."""
        js = self.nc.jetstream()
        for stream in self.streams:
            await ensure_stream(js, stream)
        sub = await self.nc.subscribe(f"{self._prefix}.*")
        self.nc.deliver_directly(sub, self._on_ack)
        self._tasks = [asyncio.create_task(self._send_loop()), asyncio.create_task(self._sweep())]

    async def _send_loop(self) -> None:
        nc, outbox, in_flight = self.nc, self.outbox, self._in_flight
        while True:
            room = self.max_in_flight - len(in_flight)
            if (
                room <= 0
                or not outbox
                or not nc.is_connected
                or self._paused_until > time.monotonic()
            ):
                if not outbox and not in_flight:
                    self._idle.set()
                self._wake.clear()
                await self._wake.wait()  # set by intake, acks and the sweeper's tick
                continue
            self._idle.clear()
            if len(outbox) < min(room, BATCH):
                await asyncio.sleep(LINGER)
            commands = self._hpubs(outbox.take(min(room, BATCH)))
            if commands:
                await write_pipelined(nc, commands)
            await asyncio.sleep(0)  # let the broker intake run between batches

    def _hpubs(self, messages: list[EncodedMessage]) -> bytes:
        """One ``HPUB`` per message, each with a reply subject of its own, now in flight.

        A message larger than the server's ``max_payload`` is rejected instead (it would
        close the connection).
        """
        deadline = time.monotonic() + self.ack_timeout
        limit, reply = int(self.nc.max_payload), self._reply
        in_flight, seq = self._in_flight, self._seq
        parts: list[bytes] = []
        for message in messages:
            subject, headers, data = message[:3]
            size = len(headers) + len(data)
            if size > limit:
                self.reject(message, f"message of {size} bytes exceeds max_payload {limit}")
                continue
            seq += 1
            in_flight[seq] = (message, deadline)
            # the data joins the batch once, in the final join (no copy through a format)
            parts += (
                b"HPUB %b %b%d %d %d\r\n" % (subject, reply, seq, len(headers), size),
                headers,
                data,
                b"\r\n",
            )
        self._seq = seq
        return b"".join(parts)

    def _on_ack(self, subject: bytes, data: bytes, headers: bytes | None) -> None:
        try:
            seq = int(subject[self._prefix_len :])
        except ValueError:
            return
        entry = self._in_flight.pop(seq, None)
        self._wake.set()
        if entry is None:
            return  # an ack for a message already sent again
        message = entry[0]
        if not data or b'"error"' in data:
            self._refused(message, data, headers)
            return
        if self._unanswered_pause:
            log.info("JetStream answers again: sending resumes")
            self._unanswered_pause = 0.0
        if self._refusals:
            self._refusals.pop(message.headers, None)  # refused before, stored now
        if not message.subject.startswith(_DEADLETTER):
            if b'"duplicate"' in data:
                self.counters.duplicates += 1
            else:
                self.counters.published += 1
        if message.settle is not None:
            message.settle()

    def _refused(self, message: EncodedMessage, data: bytes, headers: bytes | None) -> None:
        if not data or (headers is not None and headers[9:12] == _NO_RESPONDERS):
            self._unanswered(message)
            return
        reason = _error_text(data)
        count = self._refusals.get(message.headers, 0) + 1
        if count >= MAX_ERROR_ACKS and not message.subject.startswith(_DEADLETTER):
            self._refusals.pop(message.headers, None)
            self.reject(message, f"JetStream refused it: {reason}")
            return
        self._refusals[message.headers] = count
        log.warning("JetStream refused %s (%s); retrying", message.subject.decode(), reason)
        self.counters.retried += 1
        self.outbox.requeue([message])
        self._paused_until = time.monotonic() + 0.2 * count

    def _unanswered(self, message: EncodedMessage) -> None:
        """No stream answered ("no responders"): it has no leader right now, as while a
        JetStream cluster elects one after losing a server, or it does not exist yet. That
        says nothing against the message: it goes back to the outbox, however often, and
        sending pauses a little longer each time nothing answers."""
        self.counters.retried += 1
        self.outbox.requeue([message])
        now = time.monotonic()
        if self._paused_until > now:
            return  # one of the messages in flight when the pause began
        low, high = UNANSWERED_PAUSE
        if not self._unanswered_pause:
            log.warning("no stream answered (no leader yet?): holding messages, retrying")
        self._unanswered_pause = min(high, max(low, self._unanswered_pause * 2))
        self._paused_until = now + self._unanswered_pause

    async def _sweep(self) -> None:
        """Send again what timed out, or everything in flight when the connection dropped."""
        was_connected = True
        while True:
            await asyncio.sleep(0.25)
            connected = bool(self.nc.is_connected)
            now = time.monotonic()
            expired: list[int] = []
            for seq, (_, deadline) in self._in_flight.items():
                if connected and was_connected and deadline > now:
                    break
                expired.append(seq)
            if not connected and was_connected:
                log.warning("NATS connection lost: %d publishes will be sent again", len(expired))
            was_connected = connected
            self._wake.set()  # a pause may be over, or the connection back
            if expired:
                messages = [self._in_flight.pop(seq)[0] for seq in expired]
                self.counters.retried += len(messages)
                self.outbox.requeue(messages)
                self._wake.set()

    async def drain(self, timeout: float) -> bool:
        """Wait until the outbox and the in-flight publishes are empty; ``False`` on timeout."""
        self._wake.set()
        try:
            async with asyncio.timeout(timeout):
                while self.outbox or self._in_flight:
                    self._idle.clear()
                    self._wake.set()
                    await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        """Stop sending; what is still in flight goes back to the outbox (to be spooled)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.outbox.requeue(message for message, _ in self._in_flight.values())
        self._in_flight.clear()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                if self.nc.is_connected:
                    await self.nc.drain()
            await self.nc.close()


def _error_text(data: bytes) -> str:
    try:
        error = json.loads(data).get("error", {})
        return f"{error.get('err_code', error.get('code'))} {error.get('description', '')}"
    except (ValueError, AttributeError):
        return data[:200].decode(errors="replace")


async def write_pipelined(nc: Client, commands: bytes) -> None:
    """Put pre-encoded protocol commands (``HPUB`` lines) on nats-py's write buffer and flush.

    nats-py has no public call for a publish whose header block is already encoded: its
    ``publish`` encodes a header dict per message, which cost the collector its margin in the
    ingest benchmark. These are the two private calls ``publish`` itself ends in. nats-py's
    version is pinned in the collector's pyproject.toml, and the tests
    ``tests/unit/collector/test_nats_internals.py`` and
    ``tests/integration/collector/test_pipelined_publish.py`` fail if they change
    (docs/decisions/0004-pipelined-publishes-through-nats-py-internals.md).
    """
    await nc._send_command(commands)
    await nc._flush_pending()
