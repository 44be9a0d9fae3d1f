"""The counters' roll-up: every period's tallies are the sum of the level below it (see
``domain.counts``), summed again after each sweep that recounted a slot under it.

Reading every child of every period above a recounted slot cost each sweep an hour's
minutes, a day's hours, a month's days and every month: about a hundred documents, each as
large as the key set, decoded and summed every two seconds (most of the projector's time
with 100,000 tasks: docs/decisions/0021). So a period's children are split in two: the ones
this roll-up has just written (their tallies are in hand) and the *settled* rest, whose sum
is kept in memory with the ``stamp`` each of those children carried. The next roll-up of the
period reads the stamps alone, and reuses the sum while the same children carry the same
stamps; any difference (a child another replica rewrote, added or removed) reads and sums
them again. Every counter document gets a fresh stamp when it is written, and one written
before stamps gets one the first time it is summed (unless a write stamped it meanwhile, in
which case the next roll-up sees a stamp it does not hold and reads it again), so a reused
sum is always the sum of what is stored. Only the periods of the last roll-up are kept: a
few tallies, whatever the history.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tasktrail_shared import counts
from tasktrail_shared.counts import TOTAL, Tally

from tasktrail_projector.domain.counts import PARENT, period, period_end
from tasktrail_projector.ports import Doc, MaintenanceStore

Period = tuple[str, datetime | None]
"""A level and the start of one of its periods (``None`` for the totals)."""


@dataclass(frozen=True, slots=True)
class Settled:
    """The children of one period that a roll-up did not write, summed per cluster."""

    stamps: dict[str, Any]
    """Each child's id and the stamp it carried when it was summed."""
    sums: dict[str, Tally]


@dataclass(frozen=True, slots=True)
class Written:
    """A counter document this roll-up stored, with the tally it holds."""

    doc: Doc
    tally: Tally


@dataclass(eq=False)
class RollUp:
    store: MaintenanceStore
    label_values: int = counts.LABEL_VALUES
    """Values of one label a counter document keeps (``counts.capped``)."""
    _settled: dict[Period, Settled] = field(default_factory=dict, init=False)
    _prefix: str = field(default_factory=lambda: secrets.token_hex(4), init=False)
    _sequence: Iterator[int] = field(default_factory=itertools.count, init=False)

    def stamp(self) -> str:
        """A stamp no other write carries (this process's prefix and a sequence number)."""
        return f"{self._prefix}-{next(self._sequence)}"

    async def put(
        self, level: str, at: datetime | None, tallies: Mapping[str, Tally]
    ) -> list[Written]:
        """Store ``tallies`` (per cluster) as the counters of ``level`` at ``at`` (the
        totals as three documents each: ``tasktrail_shared.counts.total_documents``), each
        label of too many values capped (``counts.capped``) as stored and as summed above."""
        kept = {
            app: counts.capped(tally, self.label_values) for app, tally in sorted(tallies.items())
        }
        written = [
            Written({**counts.document(level, app, at, tally), "stamp": self.stamp()}, tally)
            for app, tally in kept.items()
        ]
        docs = [w.doc for w in written]
        if level == TOTAL:
            docs = [
                {**doc, "stamp": w.doc["stamp"]}
                for w in written
                for doc in counts.total_documents(str(w.doc["app"]), w.tally)
            ]
        await self.store.put_counts(level, at, docs)
        return written

    async def run(self, slots: set[datetime], written: Sequence[Written]) -> None:
        """Sum every period above ``slots`` again, level by level, up to the totals;
        ``written``: the slots' tallies as this sweep just stored them."""
        if not slots:
            return
        used: dict[Period, Settled] = {}
        level, periods, below = "slot", slots, list(written)
        while level != TOTAL:
            parent = PARENT[level]
            starts = {period(parent, at) for at in periods}
            stored: list[Written] = []
            for start in sorted(starts, key=lambda s: (s is not None, s)):
                end = None if start is None else period_end(parent, start)
                mine = [w for w in below if _within(w.doc, start, end)]
                sums = await self._children(level, start, end, mine, used)
                if parent == TOTAL:
                    for app in await self._registered():
                        sums.setdefault(app, {})
                stored += await self.put(parent, start, sums)
            level, below = parent, stored
            periods = {s for s in starts if s is not None}
        self._settled = used

    async def _children(
        self,
        level: str,
        start: datetime | None,
        end: datetime | None,
        mine: Sequence[Written],
        used: dict[Period, Settled],
    ) -> dict[str, Tally]:
        """The sum per cluster of the ``level`` documents in ``[start, end)``: the settled
        sum (reused, or read again) plus the ones in ``mine``."""
        ids = {w.doc["_id"] for w in mine}
        heads = await self.store.count_stamps(level, start, end)
        stamps = {str(h["_id"]): h.get("stamp") for h in heads if h["_id"] not in ids}
        settled = self._settled.get((level, start))
        if settled is None or settled.stamps != stamps:
            settled = _settle(await self.store.count_tallies(level, start, end), ids)
            unstamped = {i: self.stamp() for i, s in settled.stamps.items() if s is None}
            await self.store.stamp_counts(unstamped)
            settled = Settled({**settled.stamps, **unstamped}, settled.sums)
        used[(level, start)] = settled
        sums = {app: dict(tally) for app, tally in settled.sums.items()}
        for w in mine:
            tally = sums.setdefault(str(w.doc["app"]), {})
            for key, cell in w.tally.items():
                counts.add(tally, key, cell)
        return sums

    async def _registered(self) -> list[str]:
        """The clusters with a totals document: each keeps one, counting zero if need be."""
        return [str(h["app"]) for h in await self.store.count_stamps(TOTAL, None, None)]


def _settle(docs: Iterable[Doc], written: set[Any]) -> Settled:
    stamps: dict[str, Any] = {}
    sums: dict[str, Tally] = {}
    for doc in docs:
        if doc["_id"] in written:
            continue
        stamps[str(doc["_id"])] = doc.get("stamp")
        tally = sums.setdefault(str(doc["app"]), {})
        for key, cell in counts.stored(doc).items():
            counts.add(tally, key, cell)
    return Settled(stamps, sums)


def _within(doc: Doc, start: datetime | None, end: datetime | None) -> bool:
    at = doc.get("at")
    return start is None or end is None or (isinstance(at, datetime) and start <= at < end)
