"""Decoding stream messages: what is folded, what is recorded, what is dead-lettered."""

from __future__ import annotations

import pytest
from tasktrail_projector.domain.history import task_entries
from tasktrail_projector.domain.messages import InvalidMessage, decode_message
from tasktrail_shared.stream_message import celery_stream_message, own_event

from tests.wire import recorded_messages, redis_payload


def test_multi_message_yields_every_event_with_its_index() -> None:
    message = max(
        (m for m in recorded_messages() if m.routing_key == "task.multi"),
        key=lambda m: len(m.payload),
    )
    env = celery_stream_message(
        app="scan", routing_key="task.multi", data=message.payload, source="t"
    )
    decoded = decode_message(env.headers(), env.data)
    assert [o.index for o in decoded.events] == list(range(len(decoded.events)))
    assert {o.envelope_id for o in decoded.events} == {env.id}
    [history] = task_entries(decoded, seq=7)  # one document per message
    assert history["_id"] == env.id and history["seq"] == 7 and history["app"] == "scan"
    assert [e["index"] for e in history["events"]] == [o.index for o in decoded.events]
    assert history["uuids"] == sorted({o.event["uuid"] for o in decoded.events})
    assert history["timestamp"] == min(e["timestamp"] for e in history["events"])


def test_worker_events_have_no_task_history() -> None:
    message = next(m for m in recorded_messages() if m.routing_key == "worker.heartbeat")
    env = celery_stream_message(
        app="scan", routing_key=message.routing_key, data=message.payload, source="t"
    )
    decoded = decode_message(env.headers(), env.data)
    assert decoded.events[0].type == "worker-heartbeat"
    assert task_entries(decoded, seq=1) == []


@pytest.mark.parametrize(
    ("headers", "data", "reason"),
    [
        (None, b"{}", "not a tasktrail stream message"),
        ({"ce-id": "x", "ce-type": "celery.task.sent", "ce-app": "a"}, b"{}", "ce-received"),
        (
            {"ce-id": "x", "ce-type": "celery.task.sent", "ce-app": "a", "ce-received": "nan"},
            b"",
            "valid time",
        ),
    ],
)
def test_bad_envelopes_are_invalid(
    headers: dict[str, str] | None, data: bytes, reason: str
) -> None:
    with pytest.raises(InvalidMessage, match=reason):
        decode_message(headers, data)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"type": "task-sent", "hostname": "h", "timestamp": 1.0}, "uuid"),
        ({"type": "no-such-event", "hostname": "h", "timestamp": 1.0}, "unknown event type"),
        ({"type": "task-sent", "uuid": "u", "hostname": "h", "timestamp": 1e20}, "out of range"),
        ({"type": "task-sent", "uuid": "u", "hostname": "h", "timestamp": -5}, "out of range"),
    ],
)
def test_unreadable_events_are_invalid(body: dict[str, object], reason: str) -> None:
    env = celery_stream_message(
        app="a", routing_key="task.sent", data=redis_payload(body), source="t"
    )
    with pytest.raises(InvalidMessage, match=reason):
        decode_message(env.headers(), env.data)


def test_command_is_recorded_for_each_task_it_names() -> None:
    payload = {"command": "revoke", "args": {"ids": ["t2", "t1", "t1"]}, "actor": "ops"}
    env = own_event(
        app="a", type="tasktrail.command.requested", payload=payload, source="control", id="c1"
    )
    decoded = decode_message(env.headers(), env.data)
    assert decoded.events == [] and decoded.task_ids == ["t1", "t2"]
    [history] = task_entries(decoded, seq=3)
    assert (history["_id"], history["uuids"]) == ("c1", ["t1", "t2"])
    assert [(e["uuid"], e["index"]) for e in history["events"]] == [("t1", 0), ("t2", 1)]
    entry = history["events"][0]
    assert entry["event"] == payload and entry["type"] == "tasktrail.command.requested"


def test_completed_command_names_tasks_through_its_request() -> None:
    payload = {"request": {"command": "revoke", "args": {"ids": "t9"}}, "ok": True}
    env = own_event(
        app="a", type="tasktrail.command.completed", payload=payload, source="c", id="c2"
    )
    assert decode_message(env.headers(), env.data).task_ids == ["t9"]


def test_a_command_naming_no_task_is_audited_and_other_types_fold_nothing() -> None:
    env = own_event(
        app="a",
        type="tasktrail.command.requested",
        payload={"command": "ping", "actor": "ops"},
        source="c",
        id="c3",
    )
    [doc] = task_entries(decode_message(env.headers(), env.data), seq=1)
    assert (doc["_id"], doc["uuids"], doc["type"]) == ("c3", [], "tasktrail.command.requested")
    [entry] = doc["events"]
    assert (entry["uuid"], entry["event"]["actor"]) == (None, "ops")
    env = own_event(app="a", type="tasktrail.other.thing", payload={}, source="c", id="c4")
    assert decode_message(env.headers(), env.data).events == []


def test_command_with_a_broken_payload_is_invalid() -> None:
    env = own_event(app="a", type="tasktrail.command.requested", payload={}, source="c", id="c5")
    with pytest.raises(InvalidMessage, match="JSON"):
        decode_message(env.headers(), b"{nope")
