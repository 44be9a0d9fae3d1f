"""In-memory stand-ins for the clock, the log and the store, faithful to their contracts
(``tests/contract`` runs the same tests against these and the real adapters)."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import decode, encode
from bson.codec_options import CodecOptions
from bson.errors import InvalidDocument
from tasktrail_projector.adapters.store import STATS, STATS_SLOTS
from tasktrail_projector.domain.lost import Flip
from tasktrail_projector.ports import Doc, RejectedWrite, StoreUnavailable, Write
from tasktrail_shared import counts
from tasktrail_shared.counts import TOTAL
from tasktrail_shared.mongo import CHECKPOINTS, COUNTS, TASKS, WORKERS

START = datetime.fromtimestamp(1_800_000_000, UTC)


class FakeClock:
    """A clock that moves only when the code under test waits, or when the test moves it.

    A sleep advances it at once (and lets the other coroutines run, as a real wait does), so
    no test waits for time to pass and none depends on how fast the machine is.
    """

    def __init__(self, start: datetime = START) -> None:
        self.start = start
        self.elapsed = 0.0
        self.slept: list[float] = []
        """Every wait asked for, in order."""
        self._alarms: list[tuple[float, asyncio.Event]] = []

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    def advance(self, seconds: float) -> None:
        self.elapsed += seconds
        for at, alarm in self._alarms:
            if self.elapsed >= at:
                alarm.set()

    def alarm(self, after: float) -> asyncio.Event:
        """An event that is set once the clock has moved ``after`` seconds on from now."""
        alarm = asyncio.Event()
        self._alarms.append((self.elapsed + after, alarm))
        return alarm

    async def sleep(self, seconds: float, stop: asyncio.Event | None = None) -> None:
        self.slept.append(seconds)
        if stop is None or not stop.is_set():
            self.advance(max(seconds, 0.0))
        await asyncio.sleep(0)


@dataclass
class FakeDelivery:
    subject: str
    headers: Mapping[str, str] | None
    data: bytes
    seq: int
    time: float = 1_800_000_000.0
    acked: bool = False
    naked: bool = False

    async def ack(self) -> None:
        self.acked = True

    async def nak(self, delay: float) -> None:
        self.naked = True


@dataclass
class FakeSource:
    """Hands out messages in order; a nak'ed message comes back, as JetStream redelivers it.

    With nothing to hand out, a fetch waits its timeout on ``clock`` (as a real one waits
    before saying "none") and sets ``drained``.
    """

    deliveries: list[FakeDelivery]
    position: int = 0
    clock: FakeClock = field(default_factory=FakeClock)
    drained: asyncio.Event = field(default_factory=asyncio.Event)

    async def fetch(self, batch: int, timeout: float) -> Sequence[FakeDelivery]:
        again = [d for d in self.deliveries[: self.position] if d.naked and not d.acked][:batch]
        for delivery in again:
            delivery.naked = False
        taken = self.deliveries[self.position : self.position + batch - len(again)]
        self.position += len(taken)
        if not again and not taken:
            self.drained.set()
            await self.clock.sleep(timeout)
        return [*again, *taken]

    async def close(self) -> None:
        pass


def _project(doc: Doc, fields: Sequence[str]) -> Doc:
    return {k: copy.deepcopy(doc[k]) for k in ("_id", *fields) if k in doc}


AS_STORED = CodecOptions[dict[str, Any]](tz_aware=True)
MAX_DOCUMENT = 16 * 1024 * 1024
"""Bytes of BSON a MongoDB document may take."""


def _as_stored(doc: Doc) -> Doc:
    """``doc`` as the database keeps it and gives it back: through BSON (times in UTC cut to
    milliseconds, tuples as lists). What BSON cannot hold is refused, as the adapter does."""
    try:
        data = encode(doc)
    except (InvalidDocument, OverflowError) as exc:
        raise RejectedWrite(f"not a BSON document: {exc}") from exc
    if len(data) > MAX_DOCUMENT:
        raise RejectedWrite(f"document of {len(data)} bytes is too large")
    return decode(data, codec_options=AS_STORED)


@dataclass
class FakeStore:
    """Collections of documents with ``_v`` checks, like the Mongo adapter.

    Documents are kept as BSON round-trips them; ``refuse`` refuses more, for tests of
    what the projector does with a document the store will not take.
    """

    collections: dict[str, dict[Any, Doc]] = field(default_factory=dict)
    before_write: Callable[[str, Sequence[Write]], None] | None = None
    refuse: Callable[[Doc], bool] = lambda doc: False
    down: bool = False
    outage: int = 0
    """Calls that still fail as if the store were down, before it answers again."""
    writes: int = 0
    yields: bool = False
    """Give way to other coroutines at every call, so that replicas really race."""

    def docs(self, collection: str) -> dict[Any, Doc]:
        return self.collections.setdefault(collection, {})

    async def close(self) -> None:
        pass

    async def _turn(self) -> None:
        if self.yields:
            await asyncio.sleep(0)

    def _check(self) -> None:
        if self.outage > 0:
            self.outage -= 1
            raise StoreUnavailable("down for a while")
        if self.down:
            raise StoreUnavailable("down")

    async def load(self, collection: str, ids: Sequence[str]) -> dict[str, Doc]:
        await self._turn()
        self._check()
        docs = self.docs(collection)
        return {i: copy.deepcopy(docs[i]) for i in ids if i in docs}

    async def write(self, collection: str, writes: Sequence[Write]) -> list[str]:
        await self._turn()
        self._check()
        if any(self.refuse(w.doc) for w in writes):
            raise RejectedWrite("refused")
        stored = [_as_stored({**w.doc, "_v": (w.expected or 0) + 1}) for w in writes]
        if self.before_write is not None:
            self.before_write(collection, writes)
        self.writes += 1
        docs, lost = self.docs(collection), []
        for w, new in zip(writes, stored, strict=True):
            held = docs.get(w.doc["_id"])
            if w.expected is None:
                landed = held is None  # an insert: the id must be free
            else:  # a replacement: of the version it was folded from, never a re-creation
                landed = held is not None and held.get("_v") == w.expected
            if landed:
                docs[w.doc["_id"]] = new
            else:
                lost.append(w.doc["_id"])
        return lost

    async def append(self, collection: str, docs: Sequence[Doc]) -> None:
        await self._turn()
        self._check()
        if any(self.refuse(d) for d in docs):
            raise RejectedWrite("refused")
        stored = [_as_stored(d) for d in docs]
        held = self.docs(collection)
        for doc in stored:
            held.setdefault(doc["_id"], doc)

    async def register_apps(self, apps: Sequence[str]) -> None:
        await self._turn()
        self._check()
        held = self.docs(COUNTS)
        for app in apps:
            doc = counts.document(TOTAL, app, None, {})
            held.setdefault(doc["_id"], _as_stored(doc))

    async def save_position(self, consumer: str, seq: int, marks: Sequence[str]) -> None:
        await self._turn()
        self._check()
        doc = self.docs(CHECKPOINTS).setdefault(consumer, {"_id": consumer, "seq": 0, "dirty": {}})
        doc["seq"] = max(doc["seq"], seq)
        for key in set(marks):  # one write: a slot named twice is marked once
            doc["dirty"][key] = doc["dirty"].get(key, 0) + 1

    async def marks(self, consumer: str) -> dict[str, int]:
        await self._turn()
        self._check()
        return dict(self.docs(CHECKPOINTS).get(consumer, {}).get("dirty", {}))

    async def clear_mark(self, consumer: str, key: str, generation: int) -> None:
        await self._turn()
        dirty = self.docs(CHECKPOINTS).get(consumer, {}).get("dirty", {})
        if dirty.get(key) == generation:
            del dirty[key]

    async def slot_tasks(self, slot: datetime, fields: Sequence[str]) -> list[Doc]:
        await self._turn()
        self._check()
        return [
            _project(d, fields)
            for d in self.docs(TASKS).values()
            if slot in (d.get("_slots") or [])
        ]

    async def put_tallies(self, slot: datetime, docs: Sequence[Doc]) -> None:
        await self._replace(STATS_SLOTS, docs, lambda d: d.get("slot") == slot)

    async def minute_tallies(self, minute: datetime) -> list[Doc]:
        await self._turn()
        self._check()
        end = minute + timedelta(minutes=1)
        return [
            copy.deepcopy(d) for d in self.docs(STATS_SLOTS).values() if minute <= d["slot"] < end
        ]

    async def put_buckets(self, minute: datetime, docs: Sequence[Doc]) -> None:
        await self._replace(STATS, docs, lambda d: d.get("minute") == minute)

    async def _replace(
        self, collection: str, docs: Sequence[Doc], replaced: Callable[[Doc], bool]
    ) -> None:
        """Make ``docs`` the documents of ``collection`` in place of those ``replaced`` picks."""
        await self._turn()
        self._check()
        stored = [_as_stored(d) for d in docs]
        held = self.docs(collection)
        for key in [k for k, d in held.items() if replaced(d)]:
            del held[key]
        for doc in stored:
            held[doc["_id"]] = doc

    async def count_tallies(
        self, level: str, start: datetime | None, end: datetime | None
    ) -> list[Doc]:
        return [copy.deepcopy(d) for d in await self._counters(level, start, end)]

    async def count_stamps(
        self, level: str, start: datetime | None, end: datetime | None
    ) -> list[Doc]:
        return [_project(d, ("app", "stamp")) for d in await self._counters(level, start, end)]

    async def _counters(
        self, level: str, start: datetime | None, end: datetime | None
    ) -> list[Doc]:
        await self._turn()
        self._check()
        return [
            d
            for d in self.docs(COUNTS).values()
            if d["level"] == level and (start is None or end is None or start <= d["at"] < end)
        ]

    async def stamp_counts(self, stamps: Mapping[str, str]) -> None:
        await self._turn()
        self._check()
        for doc_id, stamp in stamps.items():
            doc = self.docs(COUNTS).get(doc_id)
            if doc is not None and doc.get("stamp") is None:
                doc["stamp"] = stamp

    async def put_counts(self, level: str, at: datetime | None, docs: Sequence[Doc]) -> None:
        if at is None:
            await self._turn()
            self._check()
            for doc in docs:
                self.docs(COUNTS)[doc["_id"]] = _as_stored(doc)
            return
        await self._replace(COUNTS, docs, lambda d: (d.get("level"), d.get("at")) == (level, at))

    async def workers(self, fields: Sequence[str]) -> list[Doc]:
        await self._turn()
        self._check()
        return [_project(d, fields) for d in self.docs(WORKERS).values()]

    async def unfinished_tasks(
        self, workers: Sequence[str], states: Sequence[str], fields: Sequence[str]
    ) -> list[Doc]:
        await self._turn()
        self._check()
        return [
            _project(d, fields)
            for d in self.docs(TASKS).values()
            if d.get("state") in states and d.get("worker") in workers
        ]

    async def flag(self, flips: Sequence[Flip]) -> int:
        await self._turn()
        self._check()
        changed = 0
        for flip in flips:
            doc = self.docs(TASKS).get(flip.task_id)
            if doc is None or any(doc.get(k) != v for k, v in flip.expect.items()):
                continue
            doc["lost"] = flip.lost
            doc["_v"] = doc.get("_v", 0) + 1
            changed += 1
        return changed
