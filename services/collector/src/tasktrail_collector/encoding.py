"""Stream messages encoded as the publisher sends them: subject, NATS header block and data.

Headers are encoded once, when a broker message is taken in, so that publishing only joins
bytes and an encoded message can go to the disk spool and come back unchanged. The fast path
for Redis (:class:`RedisEncoder`) builds the same bytes as :func:`encode_stream_message` of
:func:`celery_stream_message` (a unit test holds them equal) without a dataclass, a dict and
a datetime per message.
"""

from __future__ import annotations

from binascii import hexlify
from collections.abc import Callable, Mapping
from hashlib import sha256
from typing import NamedTuple

from tasktrail_shared.stream_message import (
    KOMBU_REDIS_ENVELOPE,
    MSG_ID_HEADER,
    SPEC_VERSION,
    StreamMessage,
    content_id,
    rfc3339,
    subject_for,
)

DEADLETTER_ROOT = "tasktrail.deadletter"
REASON_HEADER = "tasktrail-reason"
DEADLETTER_KEEP_BYTES = 64 * 1024
"""A dead letter keeps at most this much of the message: enough to see what it was."""


def deadletter_subject(app: str) -> str:
    """Outside ``tasktrail.events.>``: projectors never read rejects as events."""
    return f"{DEADLETTER_ROOT}.{app}"


class EncodedMessage(NamedTuple):
    """One stream message, ready to publish or to spool."""

    subject: bytes
    headers: bytes
    data: bytes
    settle: Callable[[], None] | None = None
    """Called once JetStream holds the message (the broker ack on AMQP); never spooled."""

    @property
    def size(self) -> int:
        return len(self.subject) + len(self.headers) + len(self.data)


def _clean(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")


def encode_headers(headers: Mapping[str, str]) -> bytes:
    """The NATS/1.0 header block of an HPUB."""
    lines = "".join(f"{k}: {_clean(v)}\r\n" for k, v in headers.items())
    return f"NATS/1.0\r\n{lines}\r\n".encode()


def encode_stream_message(
    message: StreamMessage, settle: Callable[[], None] | None = None
) -> EncodedMessage:
    return EncodedMessage(
        message.nats_subject.encode(), encode_headers(message.headers()), message.data, settle
    )


_ID_LINE = f"NATS/1.0\r\n{MSG_ID_HEADER}: ".encode()
_CE_ID_LINE = f"\r\nce-specversion: {SPEC_VERSION}\r\nce-id: ".encode()


class RedisEncoder:
    """Encodes kombu Redis envelopes; :meth:`at` sets the receive time of one socket read."""

    def __init__(self, app: str, source: str) -> None:
        self.app = app
        self.source = source
        self._by_key: dict[bytes, tuple[bytes, bytes]] = {}
        self._time = b""

    def at(self, received: float) -> None:
        self._time = (
            f"ce-time: {rfc3339(received)}\r\nce-datacontenttype: {KOMBU_REDIS_ENVELOPE}\r\n"
            f"ce-app: {self.app}\r\nce-received: {received!r}\r\n\r\n"
        ).encode()

    def encode(self, routing_key: bytes, data: bytes) -> EncodedMessage:
        parts = self._by_key.get(routing_key)
        if parts is None:
            key = routing_key.decode()
            parts = self._by_key[routing_key] = (
                subject_for(self.app, f"celery.{key}").encode(),
                f"\r\nce-type: celery.{key}\r\nce-source: {self.source}\r\n".encode(),
            )
        msg_id = hexlify(sha256(data).digest()[:16])
        headers = b"".join((_ID_LINE, msg_id, _CE_ID_LINE, msg_id, parts[1], self._time))
        return EncodedMessage(parts[0], headers, data)


def encode_deadletter(
    *,
    app: str,
    source: str,
    reason: str,
    origin: str,
    data: bytes,
    received: float,
    settle: Callable[[], None] | None = None,
) -> EncodedMessage:
    """A reject for ``tasktrail.deadletter.<app>``: the reason and origin go in headers."""
    kept = data[:DEADLETTER_KEEP_BYTES]
    msg_id = content_id(data)
    headers = {
        MSG_ID_HEADER: msg_id,
        "ce-specversion": SPEC_VERSION,
        "ce-id": msg_id,
        "ce-type": "tasktrail.deadletter",
        "ce-source": source,
        "ce-time": rfc3339(received),
        "ce-app": app,
        "ce-received": repr(received),
        REASON_HEADER: reason[:500],
        "tasktrail-origin": origin[:200],
        "tasktrail-size": str(len(data)),
    }
    if len(kept) < len(data):
        headers["tasktrail-truncated"] = "true"
    return EncodedMessage(deadletter_subject(app).encode(), encode_headers(headers), kept, settle)
