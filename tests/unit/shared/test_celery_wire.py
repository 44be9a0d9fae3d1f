"""Decoding what Celery really puts on the wire, and refusing what it never would."""

from __future__ import annotations

import json
import zlib
from collections import Counter
from typing import Any

import pytest
from tasktrail_shared.celery_wire import (
    InvalidEvent,
    decode_body,
    decode_celery_events,
    decode_redis_envelope,
    validate_event,
)
from tasktrail_shared.stream_message import JSON, celery_stream_message

from tests.wire import kombu_envelope, recorded_messages


def _all_events() -> list[dict[str, Any]]:
    events = []
    for message in recorded_messages():
        env = celery_stream_message(
            app="scan", routing_key=message.routing_key, data=message.payload, source="test"
        )
        events.extend(decode_celery_events(env))
    return events


def test_every_recorded_event_decodes_with_the_documented_counts() -> None:
    counts = Counter(event["type"] for event in _all_events())
    assert counts == {
        "worker-online": 2,
        "worker-heartbeat": 17,
        "task-sent": 16,
        "task-received": 15,
        "task-started": 15,
        "task-succeeded": 12,
        "task-failed": 1,
        "task-retried": 1,
        "task-revoked": 1,
        "worker-offline": 1,
    }


def test_task_multi_messages_hold_lists_of_events() -> None:
    multi = [m for m in recorded_messages() if m.routing_key == "task.multi"]
    assert multi
    sizes = [len(decode_redis_envelope(m.payload)) for m in multi]
    assert all(isinstance(size, int) and size >= 1 for size in sizes)
    assert sum(sizes) == 15 + 15 + 12 + 1 + 1 + 1


def test_repr_strings_are_kept_unchanged() -> None:
    sent = next(e for e in _all_events() if e["type"] == "task-sent")
    assert isinstance(sent["args"], str) and sent["args"].startswith("(")
    assert sent["kwargs"] == "{}"


def test_failed_event_carries_the_exception_repr() -> None:
    failed = next(e for e in _all_events() if e["type"] == "task-failed")
    assert failed["exception"] == "ValueError('boom 1')"
    assert "Traceback" in failed["traceback"]


EVENT = {"type": "task-started", "hostname": "w@h", "timestamp": 1.5, "uuid": "u1", "clock": 3}


def test_compressed_bodies_are_decompressed() -> None:
    body = zlib.compress(json.dumps([EVENT]).encode())
    payload = kombu_envelope(body, headers={"compression": "application/x-gzip"})
    assert decode_redis_envelope(payload) == [EVENT]


def test_kombu_typed_values_become_their_plain_value() -> None:
    event = dict(EVENT, eta={"__type__": "datetime", "__value__": "2026-01-01T00:00:00"})
    assert decode_body(json.dumps(event).encode(), content_type=JSON)["eta"] == (
        "2026-01-01T00:00:00"
    )


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b'{"no": "body"}', "without a body"),
        (kombu_envelope(b"{bad"), "not valid JSON"),
        (
            kombu_envelope(b"{}", **{"content-type": "application/x-python-serialize"}),
            "content type",
        ),
        (kombu_envelope(b"x", headers={"compression": "application/x-brotli"}), "compression"),
        (kombu_envelope(b"x", headers={"compression": "application/x-gzip"}), "decompress"),
        (b'{"body": "%%%", "properties": {"body_encoding": "base64"}}', "base64"),
        (kombu_envelope(b'{"type": "task-started", "timestamp": NaN}'), "non-finite"),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        decode_redis_envelope(payload)


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        ([], "not an object"),
        ({"hostname": "h", "timestamp": 1}, "no string 'type'"),
        ({"type": "task-exploded", "hostname": "h", "timestamp": 1}, "unknown event type"),
        ({"type": "worker-heartbeat", "timestamp": 1}, "no 'hostname'"),
        ({"type": "worker-heartbeat", "hostname": "h", "timestamp": "x"}, "numeric 'timestamp'"),
        ({"type": "task-sent", "hostname": "h", "timestamp": 1}, "no 'uuid'"),
        ({**EVENT, "clock": "tick"}, "non-numeric 'clock'"),
    ],
)
def test_events_missing_what_readers_rely_on_are_refused(event: object, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        validate_event(event)


def test_a_plain_amqp_body_decodes_with_its_kombu_headers() -> None:
    body = zlib.compress(json.dumps(EVENT).encode())
    env = celery_stream_message(
        app="a",
        routing_key="task.started",
        data=body,
        source="test",
        datacontenttype=JSON,
        extra={"kombu-compression": "zlib"},
    )
    assert decode_celery_events(env) == [EVENT]
