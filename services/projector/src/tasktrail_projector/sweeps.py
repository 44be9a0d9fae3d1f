"""Periodic work beside the projection loop: stats buckets, task counters and lost tasks.

All are recomputations from the read models, never increments, so they are exact however
often they run, however many replicas run them, and wherever a crash interrupts them.

* Stats: every batch marks the 2-second slots it changed (after its writes landed). The
  sweep recomputes each marked slot's tally once the slot is over (plus a second's grace for
  stragglers; a replay's slots are all over), from the tasks naming it; sums the tallies of
  each minute concerned into the minute's public bucket; and only then drops the marks, each
  only if nobody marked it again meanwhile. A slot is read about once, a little after it ends.
  Slot tallies are kept for ``window_days`` after they were written (``at``, a TTL index);
  a minute older than that is final: late marks for it are dropped (a rebuild, which
  recomputes everything it replays, does not drop them).
* Counters: the same marks name the slots whose task counts may have changed (see
  ``domain.counts``). Every sweep recounts each marked slot at once, from the same read as
  its stats (a slot not yet over is recounted again at the next sweep), then re-sums the
  minute, hour, day and month above it and the totals (``rollup``). Counts never expire:
  a mark older than the stats window is still recounted before it is dropped.
* Lost tasks: the sweep reads every worker's liveness and re-decides ``lost`` for the
  unfinished tasks of workers whose liveness or pid changed, or that the projector wrote
  tasks for, since it last looked; every ``full_every`` sweeps (and the first) it looks at
  every worker's. Each flip is conditional on the task fields it was decided from. Tasks on
  a worker without a document need no look: only a known worker's task can be lost, a task
  keeps ``lost`` only while its worker stays the same (``domain.tasks``), and worker
  documents are never removed (a deleted worker keeps its document, flagged); so the sweep
  reads by worker, which the ``(worker, state)`` index serves, never every task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from datetime import datetime, timedelta

from tasktrail_shared.counts import LABEL_VALUES
from tasktrail_shared.states import ON_WORKER

from tasktrail_projector.clock import SYSTEM_CLOCK
from tasktrail_projector.domain import counts, lost, stats
from tasktrail_projector.domain.tasks import SLOT_SECONDS
from tasktrail_projector.ports import Clock, MaintenanceStore, SourceUnavailable, StoreUnavailable
from tasktrail_projector.rollup import RollUp, Written

log = logging.getLogger("tasktrail.projector")


SLOT = timedelta(seconds=SLOT_SECONDS)
GRACE = timedelta(seconds=1)
"""Events of a slot still in flight when it ends: recompute it only a little later."""
SKEW = timedelta(minutes=1)
"""Slots this far ahead of our clock come from a skewed worker clock: do not wait for them."""


SWEPT_FIELDS = tuple(sorted({*stats.TALLIED_FIELDS, *counts.COUNTED_FIELDS}))
"""What the stats and the counters of a slot need from its tasks: both come from one read."""


def _minute(key: str) -> datetime:
    return stats.minute_of(stats.slot_from_key(key))


def _due(start: datetime, now: datetime) -> bool:
    """Recompute a slot once it is over, or at once if a skewed clock put it in the future."""
    return start + SLOT + GRACE <= now or start > now + SKEW


@dataclass(slots=True)
class SweepStats:
    """What the sweeps have done since the process started: how often each ran, and what it
    changed."""

    slots: int = 0
    """Slot tallies recomputed."""
    flips: int = 0
    """Tasks whose ``lost`` flag changed."""
    stats_sweeps: int = 0
    """Stats and counter sweeps run."""
    lost_sweeps: int = 0
    """Lost-task sweeps run."""


@dataclass(eq=False)
class Maintenance:
    store: MaintenanceStore
    _: KW_ONLY
    consumer: str = "projector"
    """Whose stats marks to work off (the projector's durable consumer)."""
    touched: Callable[[], set[str]] = set
    stats_interval: float = 2.0
    lost_interval: float = 2.0
    window_days: float = 30.0
    full_every: int = 30
    label_values: int = LABEL_VALUES
    clock: Clock = SYSTEM_CLOCK

    def __post_init__(self) -> None:
        self.full_every = max(self.full_every, 1)
        self.stats = SweepStats()
        self.roll_up = RollUp(self.store, self.label_values)
        self._seen: dict[str, tuple[bool, int | None]] | None = None
        self._since_full = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep on their intervals until ``stop``; failures are logged and retried."""
        next_stats = next_lost = self.clock.monotonic()
        while not stop.is_set():
            now = self.clock.monotonic()
            try:
                if now >= next_lost:
                    next_lost = now + self.lost_interval
                    await self.sweep_lost()
                if now >= next_stats:
                    next_stats = now + self.stats_interval
                    redone = await self.sweep_stats()
                    log.debug("stats: %d slots in %.3fs", redone, self.clock.monotonic() - now)
            except (StoreUnavailable, SourceUnavailable) as exc:
                log.warning("sweep paused: %s", exc)
            except Exception:
                log.exception("unexpected sweep error")
            await self.clock.sleep(
                max(0.05, min(next_lost, next_stats) - self.clock.monotonic()), stop
            )

    async def sweep_stats(self, everything: bool = False) -> int:
        """Recount every marked slot and roll the counters up; recompute the stats of the
        marked slots that are over (``everything``: all of them) and their minutes, and drop
        those marks. Returns how many slots had their stats redone."""
        marks = await self.store.marks(self.consumer)
        now = self.clock.now()
        self.stats.stats_sweeps += 1
        window = self.window_days > 0 and not everything
        horizon = now - timedelta(days=self.window_days) if window else None
        due = {k: g for k, g in marks.items() if everything or _due(stats.slot_from_key(k), now)}
        minutes: set[datetime] = set()
        recounted: list[Written] = []
        for key in sorted(marks):
            slot = stats.slot_from_key(key)
            rows = await self.store.slot_tasks(slot, SWEPT_FIELDS)
            recounted += await self.roll_up.put("slot", slot, counts.slot_tallies(slot, rows))
            if key in due and (horizon is None or stats.minute_of(slot) >= horizon):
                tallies = [{**d, "at": now} for d in stats.slot_tallies(slot, rows)]
                await self.store.put_tallies(slot, tallies)
                minutes.add(stats.minute_of(slot))
        await self.roll_up.run({stats.slot_from_key(k) for k in marks}, recounted)
        for minute in sorted(minutes):
            tallies = await self.store.minute_tallies(minute)
            await self.store.put_buckets(minute, stats.minute_buckets(minute, tallies))
        for key, generation in sorted(due.items()):
            await self.store.clear_mark(self.consumer, key, generation)
        done = sum(1 for k in due if horizon is None or _minute(k) >= horizon)
        self.stats.slots += done
        return done

    async def sweep_lost(self, now: datetime | None = None, full: bool = False) -> int:
        """Re-decide ``lost`` where it may have changed; returns how many tasks flipped."""
        now = now or self.clock.now()
        docs = await self.store.workers(("_id", *lost.LIVENESS_FIELDS))
        live = lost.liveness(docs, now)
        seen = {host: (state.alive, state.pid) for host, state in live.items()}
        touched = self.touched()
        self.stats.lost_sweeps += 1
        self._since_full += 1
        if full or self._seen is None or self._since_full >= self.full_every:
            scope = sorted(seen)
            self._since_full = 0
        else:
            changed = {h for h, s in seen.items() if self._seen.get(h) != s}
            scope = sorted((changed | touched) & set(seen))
        self._seen = seen
        if not scope:
            return 0
        rows = await self.store.unfinished_tasks(scope, sorted(ON_WORKER), lost.JUDGED_FIELDS)
        flipped = await self.store.flag(lost.flips(rows, live))
        self.stats.flips += flipped
        if flipped:
            log.info("lost flag changed on %d tasks", flipped)
        return flipped

    async def settle(self, now: datetime | None = None) -> None:
        """Run both sweeps to completion (after a rebuild, or in tests)."""
        await self.sweep_lost(now, full=True)
        while await self.store.marks(self.consumer):
            await self.sweep_stats(everything=True)
