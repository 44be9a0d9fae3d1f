"""Publish the API's own events (``tasktrail.task.*``, ``tasktrail.worker.*``) to JetStream.

The id is the content hash of the payload (which holds ``at`` and ``actor``), sent as
``Nats-Msg-Id``: a publish retried after a lost acknowledgement is dropped as a duplicate.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.errors import Error as JetStreamError
from nats.js.errors import NoStreamResponseError
from tasktrail_shared.stream_message import content_id, own_event

from tasktrail_api.errors import unavailable

log = logging.getLogger(__name__)
SOURCE = "tasktrail-api"


@dataclass(frozen=True, slots=True)
class Published:
    id: str
    seq: int


class EventLog:
    def __init__(self, nc: Client, *, app: str, timeout: float) -> None:
        self._js = nc.jetstream(timeout=timeout)
        self._app = app
        self._timeout = timeout

    async def publish(self, event_type: str, payload: dict[str, Any]) -> Published:
        data = json.dumps(payload, separators=(",", ":"), default=str).encode()
        envelope = own_event(
            app=self._app, type=event_type, payload=payload, source=SOURCE, id=content_id(data)
        )
        try:
            ack = await self._js.publish(
                envelope.nats_subject, envelope.data, headers=envelope.headers()
            )
        except NoStreamResponseError as exc:
            raise unavailable("no event stream accepts the API's events yet") from exc
        except (NatsError, JetStreamError) as exc:
            raise unavailable(f"cannot write to the event log: {exc}") from exc
        log.info("published %s %s (seq %d)", event_type, envelope.id, ack.seq)
        return Published(envelope.id, ack.seq)
