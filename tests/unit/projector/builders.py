"""Small builders for the projector's unit tests: Celery events and own records, as decoded."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from tasktrail_projector.domain.events import Observed
from tasktrail_projector.domain.own_events import Record, decode_record
from tasktrail_shared import own_events as contract
from tasktrail_shared.stream_message import StreamMessage, celery_stream_message, own_event

from tests.unit.projector.fakes import FakeDelivery
from tests.wire import redis_payload


def online(doc: Mapping[str, Any], now: datetime) -> bool:
    """What a reader shows for a worker document: online while ``now`` is before
    ``alive_until`` (the API's rule)."""
    until = doc.get("alive_until")
    return isinstance(until, datetime) and now < until


def _digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def event(
    kind: str, ts: float, uuid: str = "t1", host: str = "w1@h", pid: int = 7, **fields: Any
) -> Observed:
    """A task event with a content-derived envelope id, like the collector would give it."""
    body = {"type": kind, "uuid": uuid, "hostname": host, "timestamp": ts, "pid": pid, **fields}
    return Observed(body, _digest(sorted(body.items())), 0, "default", ts + 0.001)


def worker_event(kind: str, ts: float, host: str = "w1@h", pid: int = 7, **fields: Any) -> Observed:
    """A worker event, received by the collector 1 ms after the worker's timestamp."""
    body = {"type": kind, "hostname": host, "timestamp": ts, "freq": 2.0, "pid": pid, **fields}
    return Observed(body, _digest(sorted(body.items())), 0, "default", ts + 0.001)


def record(kind: str, at: float, **payload: Any) -> Record:
    """An own event (``kind`` like ``task.recorded``), decoded as the projector decodes it."""
    event_type = f"tasktrail.{kind}"
    body = {"at": at, "actor": "tester", **payload}
    return decode_record(
        event_type, body, _digest(event_type, json.dumps(body, default=str)), "default"
    )


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def record_envelope(kind: str, at: float, app: str = "default", **payload: Any) -> StreamMessage:
    """The stream message the API or control would publish for an own event."""
    event_type = f"tasktrail.{kind}"
    assert event_type in contract.RECORD_TYPES
    body = {"at": at, "actor": "tester", **payload}
    return own_event(
        app=app,
        type=event_type,
        payload=body,
        source="test",
        id=_digest(event_type, json.dumps(body, sort_keys=True, default=str)),
    )


def celery_message(
    routing_key: str, body: dict[str, Any] | list[dict[str, Any]], app: str = "default"
) -> StreamMessage:
    """A broker message holding ``body`` (an event or a list), wrapped as the collector does."""
    received = max(e["timestamp"] for e in (body if isinstance(body, list) else [body])) + 0.001
    return celery_stream_message(
        app=app,
        routing_key=routing_key,
        data=redis_payload(body),
        source="test",
        received=received,
    )


LOG_T0 = 1_800_000_000.0


def deliveries(envelopes: list[StreamMessage]) -> list[FakeDelivery]:
    """Stream messages; the log stores one a second from ``LOG_T0`` (its clock only grows)."""
    return [
        FakeDelivery(e.nats_subject, e.headers(), e.data, seq, time=LOG_T0 + seq)
        for seq, e in enumerate(envelopes, start=1)
    ]
