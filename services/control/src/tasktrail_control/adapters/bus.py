"""NATS side of control: serve requests in a queue group, publish control's events to the stream."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from tasktrail_shared.commands import CONTROL_QUEUE_GROUP, control_subject
from tasktrail_shared.nats import ensure_stream
from tasktrail_shared.settings import StreamSettings
from tasktrail_shared.stream_message import StreamMessage

log = logging.getLogger(__name__)

Handler = Callable[[bytes], Awaitable[bytes]]


class NatsBus:
    def __init__(self, nc: Client, stream: StreamSettings) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._stream = stream
        self._sub: Subscription | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    async def serve(self, app: str, handler: Handler) -> None:
        await ensure_stream(self._js, self._stream)

        async def answer(msg: Msg) -> None:
            try:
                reply = await handler(msg.data)
                if msg.reply:
                    await msg.respond(reply)
            except Exception:  # the requester times out; the next request must still be served
                log.exception("request on %s not answered", msg.subject)

        async def on_request(msg: Msg) -> None:
            # nats-py runs one callback at a time per subscription: a slow command must not
            # hold up the next one, so each request gets its own task.
            task = asyncio.create_task(answer(msg))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

        self._sub = await self._nc.subscribe(
            control_subject(app), queue=CONTROL_QUEUE_GROUP, cb=on_request
        )
        log.info("serving commands on %s", control_subject(app))

    async def publish(self, message: StreamMessage) -> None:
        """Waits for JetStream's acknowledgement: a command is not done until it is logged."""
        await self._js.publish(message.nats_subject, message.data, headers=message.headers())

    def connected(self) -> bool:
        return self._nc.is_connected

    async def close(self) -> None:
        if self._sub is not None:
            await self._sub.unsubscribe()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        await self._nc.drain()
