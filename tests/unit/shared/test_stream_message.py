"""Stream messages: deterministic ids, CloudEvents headers, round trip."""

from __future__ import annotations

import pytest
from tasktrail_shared.stream_message import (
    KOMBU_REDIS_ENVELOPE,
    MSG_ID_HEADER,
    StreamMessage,
    celery_stream_message,
    content_id,
    own_event,
    subject_for,
)


def test_ids_depend_on_the_bytes_only() -> None:
    a = celery_stream_message(
        app="a", routing_key="task.multi", data=b"x", source="c1", received=1.0
    )
    b = celery_stream_message(
        app="a", routing_key="task.multi", data=b"x", source="c2", received=2.0
    )
    c = celery_stream_message(
        app="a", routing_key="task.multi", data=b"y", source="c1", received=1.0
    )
    assert a.id == b.id == content_id(b"x")
    assert a.id != c.id


def test_headers_carry_cloudevents_attributes_and_the_dedupe_id() -> None:
    env = celery_stream_message(
        app="prod", routing_key="worker.heartbeat", data=b"{}", source="c", received=1700000000.25
    )
    headers = env.headers()
    assert headers[MSG_ID_HEADER] == headers["ce-id"] == env.id
    assert headers["ce-type"] == "celery.worker.heartbeat"
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-time"] == "2023-11-14T22:13:20.250000Z"
    assert headers["ce-datacontenttype"] == KOMBU_REDIS_ENVELOPE
    assert headers["ce-app"] == "prod"
    assert env.nats_subject == "tasktrail.events.prod.celery.worker.heartbeat"


def test_round_trip_through_headers() -> None:
    env = own_event(
        app="a", type="tasktrail.command.requested", payload={"x": 1}, source="s", id="i"
    )
    back = StreamMessage.parse(env.headers(), env.data)
    assert back.id == "i" and back.type == env.type and back.json() == {"x": 1}
    assert back.received == env.received


def test_a_message_without_our_headers_is_refused() -> None:
    with pytest.raises(ValueError, match="not a tasktrail stream message"):
        StreamMessage.parse({"ce-id": "x"}, b"{}")


def test_subjects() -> None:
    assert subject_for("default", "celery.task.sent") == "tasktrail.events.default.celery.task.sent"
