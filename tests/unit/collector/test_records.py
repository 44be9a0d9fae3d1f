"""The fast Redis path builds exactly the bytes of the shared envelope, and rejects stay apart."""

from __future__ import annotations

from tasktrail_collector.records import (
    REASON_HEADER,
    RedisRecords,
    deadletter_record,
    encode_headers,
    envelope_record,
)
from tasktrail_shared.stream_message import StreamMessage, celery_stream_message

from tests.wire import recorded_messages


def _parse_headers(block: bytes) -> dict[str, str]:
    lines = block.decode().split("\r\n")
    assert lines[0] == "NATS/1.0" and lines[-2:] == ["", ""]
    return dict(line.split(": ", 1) for line in lines[1:-2])


def test_fast_redis_records_equal_the_shared_envelope_byte_for_byte() -> None:
    records = RedisRecords("scan", "tasktrail/collector/host")
    for message in recorded_messages():
        records.at(message.received)
        fast = records.record(message.routing_key.encode(), message.payload)
        reference = envelope_record(
            celery_stream_message(
                app="scan",
                routing_key=message.routing_key,
                data=message.payload,
                source="tasktrail/collector/host",
                received=message.received,
            )
        )
        assert fast == reference


def test_a_record_reads_back_as_the_envelope_the_projector_expects() -> None:
    message = recorded_messages()[0]
    records = RedisRecords("scan", "src")
    records.at(message.received)
    record = records.record(message.routing_key.encode(), message.payload)
    envelope = StreamMessage.parse(_parse_headers(record.headers), record.data)
    assert envelope.type == f"celery.{message.routing_key}"
    assert record.subject == f"tasktrail.events.scan.celery.{message.routing_key}".encode()


def test_header_values_cannot_break_the_header_block() -> None:
    assert encode_headers({"a": "x\r\ny"}) == b"NATS/1.0\r\na: x  y\r\n\r\n"


def test_a_dead_letter_keeps_the_reason_and_a_bounded_part_of_the_data() -> None:
    record = deadletter_record(
        app="scan",
        source="src",
        reason="not a kombu JSON envelope\nreally",
        origin="/0.celeryev/task.sent",
        data=b"x" * 200_000,
        received=1.5,
    )
    headers = _parse_headers(record.headers)
    assert record.subject == b"tasktrail.deadletter.scan"
    assert headers[REASON_HEADER] == "not a kombu JSON envelope really"
    assert headers["tasktrail-size"] == "200000" and headers["tasktrail-truncated"] == "true"
    assert len(record.data) == 64 * 1024
