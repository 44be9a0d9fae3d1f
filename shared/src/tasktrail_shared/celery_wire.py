"""Decode Celery event messages exactly as kombu put them on the wire.

A Redis channel carries kombu's JSON envelope: ``body`` (base64 when
``properties.body_encoding == "base64"``), ``content-type``, ``content-encoding`` and
``headers`` (``compression`` when the producer compressed the body). AMQP delivers the body
bytes with the same attributes as message properties, which the collector copies into
``kombu-*`` headers. Either way the body is one event (a dict) or, for ``task.multi``, a list.
Nothing here imports kombu: the projector decodes, and must stay light.
"""

from __future__ import annotations

import base64
import binascii
import bz2
import json
import lzma
import math
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from tasktrail_shared.states import TASK_EVENT_TYPES, WORKER_EVENT_TYPES
from tasktrail_shared.stream_message import KOMBU_REDIS_ENVELOPE, StreamMessage

Event = dict[str, Any]

MAX_BODY_BYTES = 16 * 1024 * 1024
"""A decompressed body larger than this is refused rather than held in memory."""


class InvalidEvent(ValueError):
    """The message is not a Celery event we can read; the reason says why."""


_DECOMPRESS: dict[str, Callable[[bytes], bytes]] = {
    "application/x-gzip": zlib.decompress,  # kombu registers zlib under this name
    "zlib": zlib.decompress,
    "application/x-bz2": bz2.decompress,
    "bzip2": bz2.decompress,
    "application/x-lzma": lzma.decompress,
    "lzma": lzma.decompress,
}


def _kombu_object_hook(obj: dict[str, Any]) -> Any:
    """kombu marks non-JSON types as ``{"__type__": t, "__value__": v}``; keep ``v``."""
    if "__type__" in obj and "__value__" in obj and len(obj) == 2:
        return obj["__value__"]
    return obj


def _reject_constant(name: str) -> Any:
    raise InvalidEvent(f"non-finite number {name} in body")


def _loads_json(raw: bytes | str) -> Any:
    try:
        return json.loads(raw, object_hook=_kombu_object_hook, parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidEvent(f"body is not valid JSON: {exc}") from exc


def decode_body(
    body: bytes,
    *,
    content_type: str | None,
    content_encoding: str | None = "utf-8",
    compression: str | None = None,
) -> Any:
    """Turn a kombu message body into Python data (a dict or a list of dicts)."""
    if compression:
        decompress = _DECOMPRESS.get(compression)
        if decompress is None:
            raise InvalidEvent(f"unsupported compression {compression!r}")
        try:
            body = decompress(body)
        except (zlib.error, OSError, lzma.LZMAError, ValueError) as exc:
            raise InvalidEvent(f"body does not decompress as {compression}: {exc}") from exc
    if len(body) > MAX_BODY_BYTES:
        raise InvalidEvent(f"body of {len(body)} bytes exceeds {MAX_BODY_BYTES}")
    if content_type not in (None, "", "application/json"):
        raise InvalidEvent(f"unsupported content type {content_type!r} (events are JSON)")
    encoding = content_encoding or "utf-8"
    if encoding not in ("utf-8", "utf8", "binary"):
        raise InvalidEvent(f"unsupported content encoding {encoding!r}")
    return _loads_json(body)


def decode_redis_envelope(payload: bytes) -> Any:
    """Decode kombu's envelope: the JSON object kombu publishes on a Redis channel."""
    kombu_envelope = _loads_json(payload)
    if not isinstance(kombu_envelope, dict) or "body" not in kombu_envelope:
        raise InvalidEvent("kombu envelope without a body")
    properties = kombu_envelope.get("properties") or {}
    headers = kombu_envelope.get("headers") or {}
    if not isinstance(properties, dict) or not isinstance(headers, dict):
        raise InvalidEvent("kombu envelope with malformed properties or headers")
    body = kombu_envelope["body"]
    if not isinstance(body, str):
        raise InvalidEvent("kombu envelope body is not a string")
    if properties.get("body_encoding") == "base64":
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidEvent(f"body is not valid base64: {exc}") from exc
    else:
        raw = body.encode()
    return decode_body(
        raw,
        content_type=kombu_envelope.get("content-type"),
        content_encoding=kombu_envelope.get("content-encoding"),
        compression=headers.get("compression"),
    )


def decode_celery_events(message: StreamMessage) -> list[Event]:
    """All Celery events in one stream message, validated. Raises :class:`InvalidEvent`."""
    if message.datacontenttype == KOMBU_REDIS_ENVELOPE:
        decoded = decode_redis_envelope(message.data)
    else:
        decoded = decode_body(
            message.data,
            content_type=message.datacontenttype,
            content_encoding=message.extra.get("kombu-content-encoding"),
            compression=message.extra.get("kombu-compression"),
        )
    items = decoded if isinstance(decoded, list) else [decoded]
    return [validate_event(item) for item in items]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def validate_event(item: Any) -> Event:
    """Check the fields every reader relies on; everything else is kept as sent."""
    if not isinstance(item, dict):
        raise InvalidEvent(f"event is a {type(item).__name__}, not an object")
    event_type = item.get("type")
    if not isinstance(event_type, str):
        raise InvalidEvent("event has no string 'type'")
    if event_type not in TASK_EVENT_TYPES and event_type not in WORKER_EVENT_TYPES:
        raise InvalidEvent(f"unknown event type {event_type!r}")
    if not isinstance(item.get("hostname"), str) or not item["hostname"]:
        raise InvalidEvent(f"{event_type} has no 'hostname'")
    if not _is_number(item.get("timestamp")):
        raise InvalidEvent(f"{event_type} has no numeric 'timestamp'")
    if event_type in TASK_EVENT_TYPES and (
        not isinstance(item.get("uuid"), str) or not item["uuid"]
    ):
        raise InvalidEvent(f"{event_type} has no 'uuid'")
    if "clock" in item and not _is_number(item["clock"]):
        raise InvalidEvent(f"{event_type} has a non-numeric 'clock'")
    return item


def amqp_extra_headers(content_encoding: str | None, compression: str | None) -> Mapping[str, str]:
    """The ``kombu-*`` headers the collector adds for a body delivered without kombu's envelope."""
    extra = {}
    if content_encoding:
        extra["kombu-content-encoding"] = content_encoding
    if compression:
        extra["kombu-compression"] = compression
    return extra
