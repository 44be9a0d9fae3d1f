"""NATS side of the notifier: read the Celery and schedule events of the log from a point in
time, publish the notifier's own events, and answer "send test" requests.

Each replica reads the whole log with an ordered consumer of its own (no durable state in
JetStream): replicas must all see every event to compute the same incidents, and a restarted
one rebuilds what it knew by reading again from a little before its oldest open incident.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import ConsumerConfig, DeliverPolicy
from tasktrail_shared.alerts import NOTIFIER_QUEUE_GROUP, TEST_SUBJECT
from tasktrail_shared.nats import ensure_stream
from tasktrail_shared.queues import QUEUE_MEASURED
from tasktrail_shared.settings import StreamSettings
from tasktrail_shared.stream_message import SUBJECT_ROOT, StreamMessage

from tasktrail_notifier.ports import Handler, OnMessage

log = logging.getLogger(__name__)

CELERY_SUBJECTS = f"{SUBJECT_ROOT}.*.celery.>"
SCHEDULE_SUBJECTS = f"{SUBJECT_ROOT}.*.tasktrail.schedule.>"
"""Scheduled jobs' reports and the sweep's health verdicts (``schedule_missed``)."""
QUEUE_SUBJECTS = f"{SUBJECT_ROOT}.*.{QUEUE_MEASURED}"
FOLLOWED = [CELERY_SUBJECTS, SCHEDULE_SUBJECTS, QUEUE_SUBJECTS]
"""Celery events, schedule events and queue measurements, in log order through one consumer
(several filter subjects need NATS 2.10 or later)."""


class NatsBus:
    def __init__(self, nc: Client, stream: StreamSettings) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._stream = stream
        self._subs: list[Subscription] = []
        self._inflight: set[asyncio.Task[None]] = set()

    async def follow(self, since: float, on_message: OnMessage) -> int:
        """Deliver every Celery event, schedule event and queue measurement received from
        ``since`` on, then each new one; returns how many there were to read when it started."""
        await ensure_stream(self._js, self._stream)

        async def received(msg: Msg) -> None:
            try:
                message = StreamMessage.parse(msg.headers, msg.data)
            except ValueError as exc:
                log.warning("skipping unreadable stream message: %s", exc)
                return
            on_message(message, msg.metadata.num_pending)

        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=datetime.fromtimestamp(since, UTC),
            filter_subjects=FOLLOWED,
        )
        sub = await self._js.subscribe(
            CELERY_SUBJECTS, cb=received, ordered_consumer=True, config=config
        )
        self._subs.append(sub)
        return (await sub.consumer_info()).num_pending or 0

    async def publish(self, message: StreamMessage) -> None:
        await self._js.publish(message.nats_subject, message.data, headers=message.headers())

    async def serve_tests(self, handler: Handler) -> None:
        async def answer(msg: Msg) -> None:
            try:
                await msg.respond(await handler(msg.data))
            except Exception:
                log.exception("send-test request not answered")

        async def on_request(msg: Msg) -> None:
            task = asyncio.create_task(answer(msg))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

        sub = await self._nc.subscribe(TEST_SUBJECT, queue=NOTIFIER_QUEUE_GROUP, cb=on_request)
        self._subs.append(sub)

    def connected(self) -> bool:
        return self._nc.is_connected

    async def close(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()
        if self._inflight:
            await asyncio.gather(*self._inflight, return_exceptions=True)
        await self._nc.drain()
