"""What the publisher remembers about refused messages is forgotten once each is settled.

A fake NATS connection answers every publish with an ack of its choosing: JetStream's
refusal (an ``error`` reply) a given number of times per message id, then a stored ack.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.msg import Msg
from tasktrail_collector.adapters.jetstream_sink import MAX_ERROR_ACKS, JetStreamPublisher
from tasktrail_collector.encoding import EncodedMessage
from tasktrail_collector.outbox import Outbox
from tasktrail_collector.stats import Counters

REFUSAL = json.dumps({"error": {"code": 503, "err_code": 10077, "description": "full"}}).encode()


class RefusingNats:
    """Refuses each message id ``refusals`` times, then stores it; acks come asynchronously."""

    is_connected = True
    max_payload = 1024 * 1024

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.seen: dict[bytes, int] = {}
        self._ack: Callable[[Msg], Awaitable[None]] | None = None
        self._pending: list[bytes] = []
        self._acking: set[asyncio.Task[None]] = set()

    def jetstream(self) -> None:
        return None  # no stream to create: the publisher is given none

    async def subscribe(self, subject: str, cb: Callable[[Msg], Awaitable[None]], **_: Any) -> None:
        self._ack = cb

    async def _send_command(self, command: bytes) -> None:
        self._pending.append(command)

    async def _flush_pending(self) -> None:
        commands, self._pending = b"".join(self._pending), []
        for line in commands.split(b"HPUB ")[1:]:
            reply = line.split(b" ", 3)[1].decode()
            msg_id = line.split(b"Nats-Msg-Id: ", 1)[1].split(b"\r\n", 1)[0]
            self.seen[msg_id] = self.seen.get(msg_id, 0) + 1
            refused = self.seen[msg_id] <= self.refusals
            data = REFUSAL if refused else b'{"stream":"TASKTRAIL","seq":1}'
            task = asyncio.create_task(self._answer(reply, data))
            self._acking.add(task)
            task.add_done_callback(self._acking.discard)

    async def _answer(self, reply: str, data: bytes) -> None:
        assert self._ack is not None
        await self._ack(Msg(_client=None, subject=reply, data=data))  # type: ignore[arg-type]

    async def drain(self) -> None:
        return None

    async def close(self) -> None:
        return None


def message(n: int) -> EncodedMessage:
    headers = b"NATS/1.0\r\nNats-Msg-Id: id-%d\r\n\r\n" % n
    return EncodedMessage(b"tasktrail.events.t.celery.task.sent", headers, b"{}")


async def publish_all(refusals: int, count: int) -> tuple[JetStreamPublisher, Counters, list[str]]:
    outbox, counters, rejected = Outbox(1024 * 1024), Counters(), []
    publisher = JetStreamPublisher(
        RefusingNats(refusals),  # type: ignore[arg-type]
        outbox,
        counters,
        streams=[],
        max_in_flight=64,
        ack_timeout=60,
        reject=lambda _, reason: rejected.append(reason),
    )
    await publisher.start()
    for n in range(count):
        outbox.put(message(n))
    publisher.notify()
    try:
        assert await publisher.drain(30)
    finally:
        await publisher.close()
    return publisher, counters, rejected


async def test_a_message_refused_then_stored_leaves_nothing_behind() -> None:
    publisher, counters, rejected = await publish_all(refusals=1, count=50)
    assert counters.published == 50 and counters.retried == 50 and rejected == []
    assert publisher.refused_pending == 0


async def test_a_message_refused_to_the_end_is_given_up_and_forgotten() -> None:
    publisher, counters, rejected = await publish_all(refusals=MAX_ERROR_ACKS, count=3)
    assert counters.published == 0 and len(rejected) == 3
    assert all("JetStream refused it: 10077 full" in reason for reason in rejected)
    assert publisher.refused_pending == 0
