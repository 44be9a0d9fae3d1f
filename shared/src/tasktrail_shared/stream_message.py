"""A stream message: one message of the JetStream log, CloudEvents attributes plus data.

Every message in the stream is ``(headers, data)``. ``data`` is what the producer sent,
unchanged: for Celery events, the broker message exactly as the broker delivered it. The
headers carry the CloudEvents attributes (binary content mode, ``ce-`` prefix) plus our own
``ce-app`` (cluster name) and ``ce-received`` (collector receive time, epoch seconds).
``Nats-Msg-Id`` equals ``ce-id``, which is derived from the content, so a re-publish or the
same message taken in by two collectors is dropped by JetStream's duplicate window.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SUBJECT_ROOT = "tasktrail.events"
SPEC_VERSION = "1.0"

# ce-datacontenttype values for the two ways a broker delivers a Celery message.
KOMBU_REDIS_ENVELOPE = "application/vnd.kombu.redis-envelope+json"
"""kombu's own envelope: the whole JSON object kombu publishes on a Redis channel (the body
inside, base64). The word is kombu's; in tasktrail "envelope" means the API's response body."""
JSON = "application/json"

MSG_ID_HEADER = "Nats-Msg-Id"


def subject_for(app: str, event_type: str) -> str:
    """``tasktrail.events.<app>.<type>``, e.g. ``tasktrail.events.default.celery.task.multi``."""
    return f"{SUBJECT_ROOT}.{app}.{event_type}"


def all_subjects() -> str:
    return f"{SUBJECT_ROOT}.>"


def celery_type_for_routing_key(routing_key: str) -> str:
    """Celery sends ``task-sent`` with routing key ``task.sent``: type ``celery.task.sent``."""
    return f"celery.{routing_key}"


def content_id(data: bytes) -> str:
    """Deterministic id of a message: the same bytes always give the same id."""
    return hashlib.sha256(data).hexdigest()[:32]


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class StreamMessage:
    """One stream message. Build it with :func:`celery_stream_message` or :func:`own_event`."""

    id: str
    type: str
    source: str
    app: str
    received: float
    data: bytes
    datacontenttype: str = JSON
    subject: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def nats_subject(self) -> str:
        return subject_for(self.app, self.type)

    def headers(self) -> dict[str, str]:
        headers = {
            MSG_ID_HEADER: self.id,
            "ce-specversion": SPEC_VERSION,
            "ce-id": self.id,
            "ce-type": self.type,
            "ce-source": self.source,
            "ce-time": rfc3339(self.received),
            "ce-datacontenttype": self.datacontenttype,
            "ce-app": self.app,
            "ce-received": repr(self.received),
        }
        if self.subject:
            headers["ce-subject"] = self.subject
        headers.update(self.extra)
        return headers

    @classmethod
    def parse(cls, headers: Mapping[str, str] | None, data: bytes) -> StreamMessage:
        """Read a stream message back from its headers and data; ``ValueError`` if malformed."""
        h = headers or {}
        try:
            received = float(h["ce-received"])
            return cls(
                id=h["ce-id"],
                type=h["ce-type"],
                source=h.get("ce-source", ""),
                app=h["ce-app"],
                received=received,
                data=data,
                datacontenttype=h.get("ce-datacontenttype", JSON),
                subject=h.get("ce-subject"),
                extra={k: v for k, v in h.items() if k.startswith("kombu-")},
            )
        except (KeyError, ValueError) as exc:
            raise ValueError(
                f"not a tasktrail stream message: missing or bad header {exc}"
            ) from exc

    def json(self) -> Any:
        return json.loads(self.data)


def celery_stream_message(
    *,
    app: str,
    routing_key: str,
    data: bytes,
    source: str,
    datacontenttype: str = KOMBU_REDIS_ENVELOPE,
    received: float | None = None,
    extra: Mapping[str, str] | None = None,
) -> StreamMessage:
    """Wrap one broker message, as delivered, for the stream. Does not parse ``data``."""
    return StreamMessage(
        id=content_id(data),
        type=celery_type_for_routing_key(routing_key),
        source=source,
        app=app,
        received=time.time() if received is None else received,
        data=data,
        datacontenttype=datacontenttype,
        extra=dict(extra or {}),
    )


def own_event(
    *,
    app: str,
    type: str,
    payload: Mapping[str, Any],
    source: str,
    id: str,
    subject: str | None = None,
) -> StreamMessage:
    """An event tasktrail itself produces (``tasktrail.command.*``, ``tasktrail.task.*``)."""
    return StreamMessage(
        id=id,
        type=type,
        source=source,
        app=app,
        received=time.time(),
        data=json.dumps(payload, separators=(",", ":"), default=str).encode(),
        subject=subject,
    )
