"""What the projection loop and the sweeps need from the outside world, as small Protocols.

The service depends on these only; ``adapters`` implement them with NATS and MongoDB, and
tests can implement them in memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tasktrail_shared.changes import ChangeNotice
from tasktrail_shared.stream_message import StreamMessage

from tasktrail_projector.domain.lost import Flip

Doc = dict[str, Any]


class SourceUnavailable(Exception):
    """The log cannot be read right now; try again later."""


class StoreUnavailable(Exception):
    """The store cannot be written right now (or stayed contended); retry the batch later."""


class RejectedWrite(Exception):
    """The store refused the data itself (too large, invalid keys): retrying will not help."""


class Clock(Protocol):
    """Time as the projection loop, the sweeps and the rebuild read it and wait for it.

    ``tasktrail_projector.clock.SYSTEM_CLOCK`` is the real one; a test's clock moves only
    when the code waits, so that no test depends on how fast the machine is.
    """

    def now(self) -> datetime:
        """The wall-clock time (aware UTC): what liveness and stats windows are judged at."""
        ...

    def monotonic(self) -> float:
        """Seconds on a steady scale, for intervals and deadlines."""
        ...

    async def sleep(self, seconds: float, stop: asyncio.Event | None = None) -> None:
        """Return once ``seconds`` have passed, or as soon as ``stop`` is set."""
        ...


class Delivery(Protocol):
    """One message from the log, acknowledged once its effects are stored."""

    @property
    def subject(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str] | None: ...
    @property
    def data(self) -> bytes: ...
    @property
    def seq(self) -> int: ...
    @property
    def time(self) -> float:
        """When the log stored it (epoch seconds): the log's own clock, the same on replays."""
        ...

    async def ack(self) -> None: ...
    async def nak(self, delay: float) -> None: ...


class ChangeNotifier(Protocol):
    """Tells live readers which documents a batch changed (``tasktrail_shared.changes``).

    Best effort: a notice that cannot be sent is dropped (readers reload on their own when
    they miss some), so this never raises.
    """

    async def notify(self, notices: Sequence[ChangeNotice]) -> None: ...


class EventSource(Protocol):
    async def fetch(self, batch: int, timeout: float) -> Sequence[Delivery]:
        """Up to ``batch`` messages; an empty list when none arrived within ``timeout``."""
        ...


@dataclass(frozen=True, slots=True)
class StreamExtent:
    """What the stream holds when a replay starts."""

    first: int
    """The first sequence still stored (older ones have aged out)."""
    last: int
    messages: int
    """How many are stored (fewer than ``last - first + 1`` if some were deleted)."""

    def messages_up_to(self, end: int) -> int:
        """The messages a replay ending at sequence ``end`` covers (at most, short of the
        last: a deleted message in between is counted)."""
        if end >= self.last:
            return self.messages
        return max(0, end - self.first + 1)


class ProgressSink(Protocol):
    """Where a rebuild says how far it has come (the CLI: a bar or log lines)."""

    def start(self, total: int) -> None: ...

    def update(self, done: int) -> None: ...

    def finish(self, done: int) -> None: ...


@dataclass(frozen=True, slots=True)
class Write:
    """Store ``doc`` if the stored version is still ``expected`` (``None``: insert it)."""

    doc: Doc
    expected: int | None


class ReadModelStore(Protocol):
    async def load(self, collection: str, ids: Sequence[str]) -> dict[str, Doc]:
        """Current documents by ``_id`` (absent ids are missing from the result)."""
        ...

    async def write(self, collection: str, writes: Sequence[Write]) -> list[str]:
        """Apply the writes in one round trip; returns the ids that may not have landed.

        That includes every write whose version check failed; it may include more (the
        caller reloads and re-folds them, which is harmless for the ones that did land).
        """
        ...

    async def append(self, collection: str, docs: Sequence[Doc]) -> None:
        """Insert documents keyed by content; ones already there are left as they are."""
        ...

    async def register_apps(self, apps: Sequence[str]) -> None:
        """Make sure each cluster has its totals document (counting zero until the sweep
        counts it): readers list a cluster's tasks only once it is registered, so this
        comes before the cluster's first task document is written."""
        ...

    async def save_position(self, consumer: str, seq: int, marks: Sequence[str]) -> None:
        """Record how far ``consumer`` got (the highest stream sequence stored; it never goes
        back) and, in the same write, mark the stats slots ``marks`` (slot keys) for
        recomputation: each mark's generation goes up by one."""
        ...


class MaintenanceStore(Protocol):
    """What the periodic sweeps (stats, lost tasks) read and write."""

    async def marks(self, consumer: str) -> dict[str, int]:
        """The stats slots marked for recomputation (slot keys), with their generations."""
        ...

    async def clear_mark(self, consumer: str, key: str, generation: int) -> None:
        """Drop the mark, unless it was marked again since ``generation`` was read."""
        ...

    async def slot_tasks(self, slot: datetime, fields: Sequence[str]) -> list[Doc]:
        """Tasks whose ``_slots`` name ``slot``, with only ``fields``."""
        ...

    async def put_tallies(self, slot: datetime, docs: Sequence[Doc]) -> None:
        """Make ``docs`` the tallies of ``slot`` (others of that slot go)."""
        ...

    async def minute_tallies(self, minute: datetime) -> list[Doc]:
        """The tallies of the slots of ``minute``."""
        ...

    async def put_buckets(self, minute: datetime, docs: Sequence[Doc]) -> None:
        """Make ``docs`` the public stats buckets of ``minute`` (others of that minute go)."""
        ...

    async def count_tallies(
        self, level: str, start: datetime | None, end: datetime | None
    ) -> list[Doc]:
        """The counter tallies of ``level`` whose period starts in ``[start, end)`` (every
        one of the level when both are ``None``)."""
        ...

    async def count_stamps(
        self, level: str, start: datetime | None, end: datetime | None
    ) -> list[Doc]:
        """The same documents as :meth:`count_tallies`, with only ``_id``, ``app`` and the
        ``stamp`` (absent from a document written before stamps)."""
        ...

    async def stamp_counts(self, stamps: Mapping[str, str]) -> None:
        """Give each counter document named in ``stamps`` its stamp, unless it has one
        (another write may have given it its own meanwhile)."""
        ...

    async def put_counts(self, level: str, at: datetime | None, docs: Sequence[Doc]) -> None:
        """Make ``docs`` the counter tallies of ``level`` at ``at`` (others of that period
        go); for the totals (``at`` None), replace those given and keep the others."""
        ...

    async def workers(self, fields: Sequence[str]) -> list[Doc]: ...

    async def unfinished_tasks(
        self, workers: Sequence[str], states: Sequence[str], fields: Sequence[str]
    ) -> list[Doc]:
        """Tasks in ``states`` on ``workers``, with only ``fields``."""
        ...

    async def flag(self, flips: Sequence[Flip]) -> int:
        """Set ``lost`` where the expected fields still hold; returns how many changed."""
        ...


class Store(ReadModelStore, MaintenanceStore, Protocol):
    """Everything the projector needs from its database."""


class ScheduleStore(Protocol):
    """What the scheduled-jobs fold and its sweep read beyond plain loads and writes."""

    async def job_ids(self, scheduler: str) -> list[str]:
        """The ``_id`` of every job document of ``scheduler`` (``org/alias``)."""
        ...

    async def count_runs(self, jobs: Sequence[str]) -> list[Doc]:
        """``{job, kind, n}``: how many runs of each kind each of ``jobs`` has."""
        ...

    async def schedulers(self) -> list[Doc]:
        """Every scheduler document."""
        ...

    async def active_jobs(self) -> list[Doc]:
        """Every job document that is active, without ``_latest``."""
        ...

    async def task_submissions(self, since: datetime, limit: int) -> list[Doc]:
        """Submissions received since ``since`` that dispatched a Celery task
        (``celery_task_id``), oldest first."""
        ...

    async def task_outcomes(self, task_ids: Sequence[str]) -> set[str]:
        """Which of these Celery task ids already have a run that ended (any outcome)."""
        ...

    async def tasks_by_id(self, task_ids: Sequence[str], fields: Sequence[str]) -> list[Doc]:
        """The Celery task documents of these ids, with only ``fields``."""
        ...


class EventSink(Protocol):
    """Writes the projector's own conclusions (``tasktrail.schedule.*``) into the log."""

    async def publish(self, message: StreamMessage) -> None:
        """Returns once the log acknowledged it; :class:`SourceUnavailable` if it cannot."""
        ...
