"""Cheap checks that keep what is clearly not a Celery event out of the stream.

Full decoding is the projector's job (it dead-letters what it cannot read); the collector
only checks what costs next to nothing per message: the size, the routing key, and that a
Redis payload has the shape of a kombu JSON envelope. One message in ``validate_every`` also
gets the projector's full validation, which catches a producer that sends garbage throughout.
"""

from __future__ import annotations

from tasktrail_shared.celery_wire import (
    InvalidEvent,
    decode_body,
    decode_redis_envelope,
    validate_event,
)
from tasktrail_shared.states import TASK_EVENT_TYPES, WORKER_EVENT_TYPES

ROUTING_KEYS = frozenset(
    {t.replace("-", ".") for t in TASK_EVENT_TYPES | WORKER_EVENT_TYPES} | {"task.multi"}
)
"""Celery publishes event ``task-sent`` with routing key ``task.sent``; lists as ``task.multi``."""
_ROUTING_KEYS_B = frozenset(k.encode() for k in ROUTING_KEYS)


def check_routing_key(key: bytes) -> str | None:
    if key in _ROUTING_KEYS_B:
        return None
    if not key:
        return "no routing key"
    return f"unknown event type {key[:64].decode(errors='replace')!r}"


def check_size(data: bytes, limit: int) -> str | None:
    return f"message of {len(data)} bytes exceeds {limit}" if len(data) > limit else None


def check_redis_envelope(payload: bytes) -> str | None:
    """A kombu envelope is a JSON object with a ``body``: look at its ends, not inside."""
    if payload[:1] != b"{" or payload.rstrip()[-1:] != b"}" or b'"body"' not in payload:
        return "not a kombu JSON envelope"
    return None


def check_redis(key: bytes, payload: bytes, limit: int) -> str | None:
    """Every cheap check of a Redis message in one call: the routing key, the size and the
    envelope's shape. Almost every message passes, so that case is one expression; the first
    failing check names the reason."""
    if (
        key in _ROUTING_KEYS_B
        and len(payload) <= limit
        and payload[:1] == b"{"
        and payload[-1:] == b"}"
        and b'"body"' in payload
    ):
        return None
    return check_routing_key(key) or check_size(payload, limit) or check_redis_envelope(payload)


def check_body(body: bytes, content_type: str | None, compression: str | None) -> str | None:
    """An AMQP body is the event JSON itself (an object, or a list for ``task.multi``)."""
    if content_type not in (None, "", "application/json"):
        return f"unsupported content type {content_type!r} (events are JSON)"
    if not compression and body.lstrip()[:1] not in (b"{", b"["):
        return "body is not a JSON object or list"
    return None


def _validate(decoded: object) -> str | None:
    try:
        for item in decoded if isinstance(decoded, list) else [decoded]:
            validate_event(item)
    except InvalidEvent as exc:
        return str(exc)
    return None


def validate_redis(payload: bytes) -> str | None:
    """The projector's full validation of one Redis payload: ``None`` or the reason."""
    try:
        decoded = decode_redis_envelope(payload)
    except InvalidEvent as exc:
        return str(exc)
    return _validate(decoded)


def validate_body(
    body: bytes, content_type: str | None, encoding: str | None, compression: str | None
) -> str | None:
    try:
        decoded = decode_body(
            body, content_type=content_type, content_encoding=encoding, compression=compression
        )
    except InvalidEvent as exc:
        return str(exc)
    return _validate(decoded)
