"""The task counters (``tasktrail_shared.counts``), recomputed from the task documents, never
incremented.

A live task counts once, in its *home* slot (the least of its ``_slots``), under its cluster,
state, name, worker and queue, with its times; under each of its labels' values; and once
under each lifecycle event it went through, with its run time
(``tasktrail_shared.counts.lifecycle_cells``: what ``/metrics`` exposes as ever-growing
totals). A slot's tally is a pure function of the tasks
whose home it is; each coarser level (minute, hour, day, month, total) is the sum of the
level below. So a count is exact however events were duplicated, replayed or interrupted,
as long as every slot whose tally a change may alter gets recomputed. Which slots those are:

* a document the batch changed: the homes of its old and new versions, when the task moved
  (another state, name, worker, queue, cluster or time; deleted or restored; another home);
* a document the batch found up to date: all its ``_slots`` (its last write may have landed
  without its marks). Slots only grow, so the home it had before is among them.

Pure: no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from tasktrail_shared import counts
from tasktrail_shared.counts import Cell, Tally

COUNTED_FIELDS = tuple(
    dict.fromkeys(
        ("_slots", "app", "state", "deleted", "runtime", "exception", "labels",
         *counts.DIMENSIONS, *counts.TIMES, *counts.LIFECYCLE)
    )
)  # fmt: skip
"""What a slot's tally needs from each task document."""
PARENT = dict(zip(counts.LEVELS, counts.LEVELS[1:], strict=False))
"""The level each level is summed into."""


def home(doc: Mapping[str, Any] | None) -> datetime | None:
    slots = [s for s in (doc or {}).get("_slots") or [] if isinstance(s, datetime)]
    return min(slots) if slots else None


def _counted(doc: Mapping[str, Any] | None) -> tuple[Any, ...] | None:
    if doc is None:
        return None
    return (
        home(doc), doc.get("app"), counts.Cell.of(doc), *counts.task_keys(doc),
        *counts.lifecycle_cells(doc), *counts.label_cells(doc),
    )  # fmt: skip


def recount(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> set[datetime]:
    """The slots whose tallies ``old`` becoming ``new`` can alter."""
    if _counted(old) == _counted(new):
        return set()
    return {h for h in (home(old), home(new)) if h is not None}


def slot_tallies(slot: datetime, rows: Iterable[Mapping[str, Any]]) -> dict[str, Tally]:
    """The tallies of ``slot``, one per cluster that has any: the live tasks whose home it
    is."""
    by_app: defaultdict[str, Tally] = defaultdict(dict)
    for row in rows:
        if home(row) != slot or not isinstance(row.get("app"), str):
            continue
        tally, cell = by_app[row["app"]], Cell.of(row)
        for key in counts.task_keys(row):
            counts.add(tally, key, cell)
        for key, counted in [*counts.lifecycle_cells(row), *counts.label_cells(row)]:
            counts.add(tally, key, counted)
    return {app: tally for app, tally in by_app.items() if tally}


def period(level: str, moment: datetime) -> datetime | None:
    """The start of the ``level`` period ``moment`` falls in (``None`` for the total)."""
    if level == "minute":
        return moment.replace(second=0, microsecond=0)
    if level == "hour":
        return moment.replace(minute=0, second=0, microsecond=0)
    if level == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if level == "month":
        return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return None


def period_end(level: str, start: datetime) -> datetime:
    """Where the ``level`` period beginning at ``start`` ends."""
    if level == "month":
        later = start + timedelta(days=32)
        return later.replace(day=1)
    return start + {"minute": timedelta(minutes=1), "hour": timedelta(hours=1)}.get(
        level, timedelta(days=1)
    )
