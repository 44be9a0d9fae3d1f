"""Read the recorded Celery wire traffic in tests/fixtures (real worker output, byte for byte)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "celery-redis-wire.ndjson"


@dataclass(frozen=True)
class WireMessage:
    channel: str
    payload: bytes
    received: float

    @property
    def routing_key(self) -> str:
        return self.channel.rsplit("/", 1)[1]


def recorded_messages() -> list[WireMessage]:
    messages = []
    for line in FIXTURE.read_text().splitlines():
        record = json.loads(line)
        messages.append(WireMessage(record["channel"], record["payload"].encode(), record["t"]))
    return messages
