"""The fast Redis path encodes exactly the shared stream message's bytes; rejects stay apart."""

from __future__ import annotations

from tasktrail_collector.encoding import (
    REASON_HEADER,
    RedisEncoder,
    encode_deadletter,
    encode_headers,
    encode_stream_message,
)
from tasktrail_shared.stream_message import StreamMessage

from tests.wire import recorded_messages

SOURCE = "tasktrail/collector/host"


def _parse_headers(block: bytes) -> dict[str, str]:
    lines = block.decode().split("\r\n")
    assert lines[0] == "NATS/1.0" and lines[-2:] == ["", ""]
    return dict(line.split(": ", 1) for line in lines[1:-2])


def test_the_fast_redis_encoding_equals_the_shared_stream_message_byte_for_byte() -> None:
    encoder = RedisEncoder("scan", SOURCE)
    for message in recorded_messages():
        encoder.at(message.received)
        fast = encoder.encode(message.routing_key.encode(), message.payload)
        reference = encode_stream_message(message.stream_message("scan", SOURCE))
        assert fast == reference


def test_an_encoded_message_parses_as_the_stream_message_the_projector_expects() -> None:
    broker = recorded_messages()[0]
    encoder = RedisEncoder("scan", "src")
    encoder.at(broker.received)
    message = encoder.encode(broker.routing_key.encode(), broker.payload)
    parsed = StreamMessage.parse(_parse_headers(message.headers), message.data)
    assert parsed.type == f"celery.{broker.routing_key}"
    assert message.subject == f"tasktrail.events.scan.celery.{broker.routing_key}".encode()


def test_header_values_cannot_break_the_header_block() -> None:
    assert encode_headers({"a": "x\r\ny"}) == b"NATS/1.0\r\na: x  y\r\n\r\n"


def test_a_dead_letter_keeps_the_reason_and_a_bounded_part_of_the_data() -> None:
    message = encode_deadletter(
        app="scan",
        source="src",
        reason="not a kombu JSON envelope\nreally",
        origin="/0.celeryev/task.sent",
        data=b"x" * 200_000,
        received=1.5,
    )
    headers = _parse_headers(message.headers)
    assert message.subject == b"tasktrail.deadletter.scan"
    assert headers[REASON_HEADER] == "not a kombu JSON envelope really"
    assert headers["tasktrail-size"] == "200000" and headers["tasktrail-truncated"] == "true"
    assert len(message.data) == 64 * 1024
