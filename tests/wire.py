"""Read the recorded Celery wire traffic in tests/fixtures (real worker output, byte for byte)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

from tasktrail_shared.stream_message import StreamMessage, celery_stream_message

FIXTURE = Path(__file__).parent / "fixtures" / "celery-redis-wire.ndjson"


@dataclass(frozen=True)
class WireMessage:
    channel: str
    payload: bytes
    received: float

    @property
    def routing_key(self) -> str:
        return self.channel.rsplit("/", 1)[1]

    def stream_message(self, app: str = "scan", source: str = "test") -> StreamMessage:
        """This broker message as a collector called ``source`` puts it in the stream."""
        return celery_stream_message(
            app=app,
            routing_key=self.routing_key,
            data=self.payload,
            source=source,
            received=self.received,
        )


def recorded_messages() -> list[WireMessage]:
    messages = []
    for line in FIXTURE.read_text().splitlines():
        record = json.loads(line)
        messages.append(WireMessage(record["channel"], record["payload"].encode(), record["t"]))
    return messages


def recorded_stream_messages(app: str = "scan") -> list[StreamMessage]:
    """The recorded broker messages as the collector puts them in the stream."""
    return [message.stream_message(app) for message in recorded_messages()]


def kombu_envelope(body: bytes, **extra: object) -> bytes:
    """kombu's Redis envelope around ``body`` (base64), as a broker delivers it; ``extra``
    replaces or adds top-level fields (``headers``, ``content-type``...)."""
    fields: dict[str, object] = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {},
        "properties": {"body_encoding": "base64"},
    }
    fields.update(extra)
    return json.dumps(fields).encode()


def redis_payload(body: object) -> bytes:
    """kombu's Redis envelope around ``body`` as JSON."""
    return kombu_envelope(json.dumps(body).encode())
