"""Publish the API's own events (``tasktrail.task.*``, ``tasktrail.worker.*``,
``tasktrail.token.*``, ``tasktrail.org.*``, ``tasktrail.catalog.*``) to the JetStream stream,
each as an event of the cluster it concerns (a hand-made task of cluster ``x`` is published on
``tasktrail.events.x...``), the API's own cluster by default.

The id is the content hash of the payload (which holds ``at`` and ``actor``), sent as
``Nats-Msg-Id``: a publish retried after a lost acknowledgement is dropped as a duplicate.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.errors import Error as JetStreamError
from nats.js.errors import NoStreamResponseError
from tasktrail_shared.stream_message import content_id, own_event

from tasktrail_api.domain.errors import Unavailable
from tasktrail_api.usecases.ports import Published

log = logging.getLogger(__name__)
SOURCE = "tasktrail-api"


class JetStreamPublisher:
    def __init__(self, nc: Client, *, app: str, timeout: float) -> None:
        self._js = nc.jetstream(timeout=timeout)
        self._app = app

    async def publish(
        self, event_type: str, payload: dict[str, Any], app: str | None = None
    ) -> Published:
        data = json.dumps(payload, separators=(",", ":"), default=str).encode()
        message = own_event(
            app=app or self._app,
            type=event_type,
            payload=payload,
            source=SOURCE,
            id=content_id(data),
        )
        try:
            ack = await self._js.publish(
                message.nats_subject, message.data, headers=message.headers()
            )
        except NoStreamResponseError as exc:
            raise Unavailable("no event stream accepts the API's events yet") from exc
        except (NatsError, JetStreamError) as exc:
            raise Unavailable(f"cannot write to the event log: {exc}") from exc
        log.info("published %s %s (seq %d)", event_type, message.id, ack.seq)
        return Published(message.id, ack.seq)
