"""What the publisher remembers about refused messages is forgotten once each is settled.

A fake NATS connection answers every publish with an ack of its choosing: JetStream's
refusal (an ``error`` reply), or no answer from any stream (the "no responders" status a
stream without a leader gives), a given number of times per message id, then a stored ack.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from tasktrail_collector.adapters import jetstream_sink
from tasktrail_collector.adapters.jetstream_sink import (
    MAX_ERROR_ACKS,
    JetStreamPublisher,
    RawHandler,
)
from tasktrail_collector.encoding import EncodedMessage
from tasktrail_collector.outbox import Outbox
from tasktrail_collector.stats import Counters

REFUSAL = json.dumps({"error": {"code": 503, "err_code": 10077, "description": "full"}}).encode()


class RefusingNats:
    """Refuses each message id ``refusals`` times, then stores it; acks come asynchronously."""

    is_connected = True
    max_payload = 1024 * 1024

    def __init__(self, refusals: int, *, unanswered: bool = False) -> None:
        self.refusals = refusals
        self.unanswered = unanswered
        self.seen: dict[bytes, int] = {}
        self._ack: RawHandler | None = None
        self._pending: list[bytes] = []
        self._acking: set[asyncio.Task[None]] = set()

    def jetstream(self) -> None:
        return None  # no stream to create: the publisher is given none

    async def subscribe(self, subject: str, **_: Any) -> str:
        return subject

    def deliver_directly(self, sub: str, handler: RawHandler) -> None:
        self._ack = handler

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
            headers = None
            if refused and self.unanswered:
                data, headers = b"", b"NATS/1.0 503\r\n\r\n"
            task = asyncio.create_task(self._answer(reply, data, headers))
            self._acking.add(task)
            task.add_done_callback(self._acking.discard)

    async def _answer(self, reply: str, data: bytes, headers: bytes | None) -> None:
        assert self._ack is not None
        self._ack(reply.encode(), data, headers)

    async def drain(self) -> None:
        return None

    async def close(self) -> None:
        return None


def message(n: int) -> EncodedMessage:
    headers = b"NATS/1.0\r\nNats-Msg-Id: id-%d\r\n\r\n" % n
    return EncodedMessage(b"tasktrail.events.t.celery.task.sent", headers, b"{}")


async def publish_all(
    refusals: int, count: int, *, unanswered: bool = False
) -> tuple[JetStreamPublisher, Counters, list[str]]:
    outbox, counters, rejected = Outbox(1024 * 1024), Counters(), []
    publisher = JetStreamPublisher(
        RefusingNats(refusals, unanswered=unanswered),  # type: ignore[arg-type]
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


async def test_a_stream_that_does_not_answer_for_a_while_costs_no_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While a cluster elects a new stream leader, publishes get "no responders": that is
    not the message's fault, however many times it happens."""
    monkeypatch.setattr(jetstream_sink, "UNANSWERED_PAUSE", (0.001, 0.004))
    refusals = MAX_ERROR_ACKS + 2  # more than a refused message gets
    publisher, counters, rejected = await publish_all(refusals, count=40, unanswered=True)
    assert rejected == [] and counters.published == 40
    assert counters.retried == 40 * refusals
    assert publisher.refused_pending == 0
