"""Measure the depth of every known queue of the cluster, periodically, into the log.

Which queues: the configured ones (``TASKTRAIL_CONTROL_QUEUES``), the ones workers consume
from (``inspect active_queues``, as celery-exporter finds them) and the ones task documents
name (the projector's counters), remembered once seen so that a queue whose every worker is
gone, the case worth an alert, is still measured. Each round is one
``tasktrail.queue.measured`` event; its id names the interval, so replicas measuring the same
cluster publish one event per interval between them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from tasktrail_shared.queues import MAX_QUEUES, QUEUE_MEASURED, QueueMeasured, measurement_id
from tasktrail_shared.stream_message import StreamMessage, own_event

from tasktrail_control.handlers import Broadcast, EventPublisher

log = logging.getLogger(__name__)


class QueueBroker(Protocol):
    """What measuring needs of Celery (``adapters.celery_remote``)."""

    async def broadcast(self, request: Broadcast) -> list[dict[str, Any]]: ...
    async def queue_lengths(self, queues: list[str]) -> dict[str, int]: ...


class QueueNames(Protocol):
    """The queues the cluster's task documents name (``adapters.counted_queues``)."""

    async def names(self) -> set[str]: ...


def consumed_queues(replies: Iterable[Mapping[str, Any]]) -> set[str]:
    """Queue names from ``active_queues`` replies (``[{hostname: [{"name": ...}, ...]}]``)."""
    found: set[str] = set()
    for reply in replies:
        for queues in reply.values():
            for queue in queues if isinstance(queues, list) else []:
                name = queue.get("name") if isinstance(queue, Mapping) else None
                if isinstance(name, str) and name:
                    found.add(name)
    return found


class QueueSampler:
    def __init__(
        self,
        app: str,
        broker: QueueBroker,
        publisher: EventPublisher,
        *,
        interval: float,
        configured: Sequence[str] = (),
        counted: QueueNames | None = None,
        inspect_timeout: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.app, self.broker, self.publisher = app, broker, publisher
        self.interval, self.inspect_timeout, self.clock = interval, inspect_timeout, clock
        self.counted = counted
        self.known: set[str] = set(configured)
        self.rounds = 0
        self.source = f"tasktrail/control/{app}/queues"

    async def _discover(self) -> None:
        try:
            inspect = Broadcast("active_queues", self.inspect_timeout)
            replies = await self.broker.broadcast(inspect)
            self.known |= consumed_queues(replies)
        except Exception as exc:  # measuring the queues already known still helps
            log.warning("active_queues not inspected: %s", exc)
        if self.counted is not None:
            try:
                self.known |= await self.counted.names()
            except Exception as exc:
                log.warning("queues of the task documents not read: %s", exc)

    async def measure(self) -> StreamMessage:
        """One round: the event holding every known queue's depth now."""
        await self._discover()
        queues = sorted(self.known)[:MAX_QUEUES]
        depths = await self.broker.queue_lengths(queues)
        at = self.clock()
        payload = QueueMeasured(at=at, depths=depths)
        return own_event(
            app=self.app,
            type=QUEUE_MEASURED,
            payload=payload.model_dump(),
            source=self.source,
            id=measurement_id(self.app, at, self.interval),
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Measure every ``interval`` seconds until ``stop``; a failed round is logged and the
        next one tried on time."""
        while not stop.is_set():
            try:
                await self.publisher.publish(await self.measure())
                self.rounds += 1
            except Exception as exc:
                log.warning("queues not measured: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
