"""Publish the projector's own events (the schedule sweep's conclusions) to JetStream.

Each message's id is its content hash (``Nats-Msg-Id``), so the same conclusion written by
two sweeps, or twice by one, is kept once.
"""

from __future__ import annotations

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js.errors import Error as JetStreamError
from tasktrail_shared.stream_message import StreamMessage

from tasktrail_projector.ports import SourceUnavailable


class JetStreamSink:
    """Implements :class:`tasktrail_projector.ports.EventSink`."""

    def __init__(self, nc: Client, timeout: float = 5.0) -> None:
        self._js = nc.jetstream(timeout=timeout)

    async def publish(self, message: StreamMessage) -> None:
        try:
            await self._js.publish(message.nats_subject, message.data, headers=message.headers())
        except (NatsError, JetStreamError) as exc:
            raise SourceUnavailable(f"cannot write to the event log: {exc}") from exc
