from __future__ import annotations

import base64
import json

import pytest
from tasktrail_collector import screening

from tests.wire import recorded_messages


def test_every_recorded_message_passes_the_cheap_and_the_full_checks() -> None:
    for message in recorded_messages():
        assert screening.check_routing_key(message.routing_key.encode()) is None
        assert screening.check_redis_envelope(message.payload) is None
        assert screening.validate_redis(message.payload) is None


@pytest.mark.parametrize(
    ("key", "reason"),
    [(b"", "no routing key"), (b"task.exploded", "unknown event type 'task.exploded'")],
)
def test_unknown_routing_keys_are_named(key: bytes, reason: str) -> None:
    assert screening.check_routing_key(key) == reason


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'{"nobody": 1}', b""])
def test_payloads_that_are_no_kombu_envelope_are_caught_cheaply(payload: bytes) -> None:
    assert screening.check_redis_envelope(payload) == "not a kombu JSON envelope"


def _envelope(body: object) -> bytes:
    raw = base64.b64encode(json.dumps(body).encode()).decode()
    return json.dumps({"body": raw, "properties": {"body_encoding": "base64"}}).encode()


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"body": "%%%", "properties": {"body_encoding": "base64"}}', "not valid base64"),
        (_envelope({"type": "task-sent"}), "has no 'hostname'"),
        (_envelope({"type": "bogus", "hostname": "h", "timestamp": 1}), "unknown event type"),
        (_envelope([{"type": "task-sent", "hostname": "h", "timestamp": 1}]), "has no 'uuid'"),
    ],
)
def test_the_full_check_explains_what_is_wrong(payload: bytes, reason: str) -> None:
    assert screening.check_redis_envelope(payload) is None  # shaped right, wrong inside
    assert reason in (screening.validate_redis(payload) or "")


def test_size_and_amqp_body_checks() -> None:
    assert screening.check_size(b"x" * 11, 10) == "message of 11 bytes exceeds 10"
    assert screening.check_size(b"x" * 10, 10) is None
    assert screening.check_body(b'{"a": 1}', "application/json", None) is None
    assert screening.check_body(b"\x78\x9c", "application/json", "zlib") is None
    assert screening.check_body(b"hello", "application/json", None) is not None
    assert "content type" in (
        screening.check_body(b"{}", "application/x-python-serialize", None) or ""
    )


@pytest.mark.parametrize(
    ("key", "payload"),
    [
        (b"task.sent", b'{"body": "e30="}'),
        (b"task.exploded", b'{"body": "e30="}'),
        (b"", b'{"body": "e30="}'),
        (b"task.sent", b'{"body": "e30="}  \n'),  # trailing blanks: the slow path says fine
        (b"task.sent", b'{"nobody": 1}'),
        (b"task.sent", b"[1, 2]"),
        (b"task.sent", b'{"body": "' + b"x" * 100 + b'"}'),  # over the limit below
    ],
)
def test_the_combined_redis_check_gives_the_first_reason_of_the_separate_ones(
    key: bytes, payload: bytes
) -> None:
    limit = 64
    separate = (
        screening.check_routing_key(key)
        or screening.check_size(payload, limit)
        or screening.check_redis_envelope(payload)
    )
    assert screening.check_redis(key, payload, limit) == separate


def test_every_recorded_message_passes_the_combined_check() -> None:
    for message in recorded_messages():
        key = message.routing_key.encode()
        assert screening.check_redis(key, message.payload, 1024 * 1024) is None
