"""Rebuild: replay the stream from its first message into an empty database, then stop.

The replay ends at the stream's last sequence when it started, or earlier with ``until``
(a stream sequence, or a time compared with the log's own timestamps, so "as of" means
"everything the log held at that moment"). It folds with the same code as the live
projection and runs both sweeps at the end (the lost-task sweep judged at the ``until``
time), so the rebuilt database equals a live projection of the same messages.

Messages past the end are nak'ed, not acknowledged: with ``durable`` the replay's consumer
stays behind, positioned right after the end, for a live projector to take over.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from tasktrail_projector.clock import SYSTEM_CLOCK
from tasktrail_projector.domain.events import to_datetime
from tasktrail_projector.ports import (
    Clock,
    Delivery,
    EventSource,
    ProgressSink,
    StoreUnavailable,
    StreamExtent,
)
from tasktrail_projector.service import Projector
from tasktrail_projector.sweeps import Maintenance

log = logging.getLogger("tasktrail.projector")

IDLE_FETCHES = 3
"""Empty fetches in a row after which the replay takes the rest of the range as gone."""


class Closable(Protocol):
    async def close(self) -> None: ...


class ReplaySource(EventSource, Closable, Protocol):
    pass


class Silent:
    """A :class:`ProgressSink` that says nothing."""

    def start(self, total: int) -> None:
        pass

    def update(self, done: int) -> None:
        pass

    def finish(self, done: int) -> None:
        pass


@dataclass(frozen=True, slots=True)
class Until:
    """Where a replay stops: a stream sequence or a time (inclusive)."""

    seq: int | None = None
    time: datetime | None = None

    @classmethod
    def parse(cls, text: str) -> Until:
        """``"1500"`` is a sequence; anything else must be an ISO 8601 time (naive = UTC)."""
        if text.strip().isdigit():
            return cls(seq=int(text))
        moment = datetime.fromisoformat(text.strip())
        return cls(time=moment if moment.tzinfo else moment.replace(tzinfo=UTC))


@dataclass(slots=True)
class Report:
    end: int
    """The last sequence the replay covers."""
    messages: int = 0
    events: int = 0
    """Events in those messages (a ``task.multi`` message holds many)."""
    last_seq: int = 0
    last_time: float | None = None
    skipped: int = 0


class Rebuild:
    def __init__(
        self,
        projector: Projector,
        maintenance: Maintenance,
        source: ReplaySource,
        store: Closable,
        *,
        extent: StreamExtent,
        until: Until | None = None,
        retry_delay: float = 0.5,
        clock: Clock = SYSTEM_CLOCK,
        progress: ProgressSink | None = None,
    ) -> None:
        self.projector = projector
        self.maintenance = maintenance
        self.source = source
        self.store = store
        self.until = until or Until()
        last = extent.last
        self.end = min(last, self.until.seq) if self.until.seq is not None else last
        self.total = extent.messages_up_to(self.end)
        """Messages to replay: exact for the whole stream, an upper bound with ``until``."""
        self.retry_delay = retry_delay
        self.clock = clock
        self.progress = progress or Silent()

    async def run(self) -> Report:
        report = Report(self.end)
        self.progress.start(self.total)
        idle = 0
        cutoff = self.until.time.timestamp() if self.until.time else None
        next_sweep = self.clock.monotonic() + self.maintenance.stats_interval
        while self.end > 0 and report.last_seq < self.end and idle < IDLE_FETCHES:
            if self.clock.monotonic() >= next_sweep:  # the marks stay few however long the log
                await self._retrying(lambda: self.maintenance.sweep_stats(everything=True))
                next_sweep = self.clock.monotonic() + self.maintenance.stats_interval
            batch = await self.source.fetch(self.projector.batch_size, self.projector.fetch_timeout)
            idle = 0 if batch else idle + 1
            within: list[Delivery] = []
            beyond: list[Delivery] = []
            for d in batch:
                inside = d.seq <= self.end and (cutoff is None or d.time <= cutoff)
                (within if inside else beyond).append(d)
            if within:
                await self._project(within)
                report.messages += len(within)
                report.last_seq = max(report.last_seq, *(d.seq for d in within))
                report.last_time = max(report.last_time or 0.0, *(d.time for d in within))
                self.progress.update(report.messages)
            for delivery in beyond:
                await delivery.nak(0)
            if beyond:
                report.skipped += len(beyond)
                break
        self.progress.finish(report.messages)
        report.events = self.projector.stats.events
        await self.maintenance.settle(self._as_of(report))
        return report

    def _as_of(self, report: Report) -> datetime | None:
        """The moment lost tasks are judged at: ``until``'s, or now for a full replay."""
        if self.until.time is not None:
            return self.until.time
        if self.until.seq is not None and report.last_time is not None:
            return to_datetime(report.last_time)
        return None

    async def _project(self, deliveries: list[Delivery]) -> None:
        """Project and acknowledge, retrying through outages: nothing may be skipped."""
        await self._retrying(lambda: self.projector.handle(deliveries, nak=False))

    async def _retrying(self, job: Callable[[], Awaitable[object]]) -> None:
        delay = self.retry_delay
        while True:
            try:
                await job()
                return
            except StoreUnavailable as exc:
                log.warning("rebuild paused: %s; retrying in %.1fs", exc, delay)
                await self.clock.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def close(self) -> None:
        try:
            await self.source.close()
        finally:
            await self.store.close()
