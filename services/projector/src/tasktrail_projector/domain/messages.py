"""Turn one stream message into what the projector folds: Celery events, own records, commands.

Anything that cannot be read raises :class:`InvalidMessage`; the service dead-letters it.
Times are checked here so the pure folds never meet a timestamp a ``datetime`` cannot hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tasktrail_shared.celery_wire import InvalidEvent, decode_celery_events
from tasktrail_shared.own_events import RECORD_TYPES
from tasktrail_shared.queues import QUEUE_MEASURED
from tasktrail_shared.schedules import SCHEDULE_TYPES
from tasktrail_shared.stream_message import StreamMessage
from tasktrail_shared.times import is_epoch

from tasktrail_projector.domain.events import Observed
from tasktrail_projector.domain.own_events import InvalidRecord, Record, decode_record
from tasktrail_projector.domain.queue_depths import Depth, InvalidMeasurement, decode_measurement
from tasktrail_projector.domain.schedules import Fact, InvalidFact, decode_fact

CELERY_PREFIX = "celery."
COMMAND_PREFIX = "tasktrail.command."


class InvalidMessage(ValueError):
    """The message is not something the projector can read; the text says why."""


@contextmanager
def _unreadable(*errors: type[Exception]) -> Iterator[None]:
    """What a decoder raises as ``errors`` becomes an InvalidMessage with the same text."""
    try:
        yield
    except errors as exc:
        raise InvalidMessage(str(exc)) from exc


@dataclass(frozen=True, slots=True)
class Decoded:
    """A readable message: its envelope, its Celery events or own record, and for commands
    the tasks named."""

    envelope: StreamMessage
    events: list[Observed] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    command: dict[str, Any] | None = None
    task_ids: list[str] = field(default_factory=list)
    schedule: list[Fact] = field(default_factory=list)
    queues: list[Depth] = field(default_factory=list)


def decode_message(headers: Mapping[str, str] | None, data: bytes) -> Decoded:
    with _unreadable(ValueError):
        envelope = StreamMessage.parse(headers, data)
    if not is_epoch(envelope.received):
        raise InvalidMessage(f"ce-received {envelope.received!r} is not a valid time")
    if envelope.type.startswith(CELERY_PREFIX):
        return _celery(envelope)
    if envelope.type.startswith(COMMAND_PREFIX):
        return _command(envelope)
    if envelope.type in RECORD_TYPES:
        return _record(envelope)
    if envelope.type in SCHEDULE_TYPES:
        return _schedule(envelope)
    if envelope.type == QUEUE_MEASURED:
        return _queues(envelope)
    return Decoded(envelope)


def _celery(envelope: StreamMessage) -> Decoded:
    with _unreadable(InvalidEvent):
        events = decode_celery_events(envelope)
    for event in events:
        if not is_epoch(event["timestamp"]):
            stamp = event["timestamp"]
            raise InvalidMessage(f"{event['type']} timestamp {stamp!r} is out of range")
    observed = [
        Observed(event, envelope.id, index, envelope.app, envelope.received)
        for index, event in enumerate(events)
    ]
    return Decoded(envelope, events=observed)


def _json_object(envelope: StreamMessage, what: str) -> dict[str, Any]:
    try:
        payload = json.loads(envelope.data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidMessage(f"{what} payload is not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise InvalidMessage(f"{what} payload is not an object")
    return payload


def _command(envelope: StreamMessage) -> Decoded:
    payload = _json_object(envelope, "command")
    return Decoded(envelope, command=payload, task_ids=command_task_ids(payload))


def _record(envelope: StreamMessage) -> Decoded:
    payload = _json_object(envelope, envelope.type)
    with _unreadable(InvalidRecord):
        record = decode_record(envelope.type, payload, envelope.id, envelope.app)
    return Decoded(envelope, records=[record])


def _schedule(envelope: StreamMessage) -> Decoded:
    payload = _json_object(envelope, envelope.type)
    with _unreadable(InvalidFact):
        fact = decode_fact(envelope.type, payload, envelope.id, envelope.received)
    return Decoded(envelope, schedule=[fact])


def _queues(envelope: StreamMessage) -> Decoded:
    payload = _json_object(envelope, envelope.type)
    try:
        return Decoded(envelope, queues=decode_measurement(payload, envelope.app))
    except InvalidMeasurement as exc:
        raise InvalidMessage(str(exc)) from exc


def command_task_ids(payload: Mapping[str, Any]) -> list[str]:
    """Task ids a command names in ``args.ids`` (or ``request.args.ids`` in a completion)."""
    for holder in (payload, payload.get("request")):
        if not isinstance(holder, Mapping):
            continue
        args = holder.get("args")
        ids = args.get("ids") if isinstance(args, Mapping) else None
        if isinstance(ids, str):
            ids = [ids]
        if isinstance(ids, list):
            return sorted({i for i in ids if isinstance(i, str) and i})
    return []
