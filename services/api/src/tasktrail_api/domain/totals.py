"""List totals and dashboard counts from the counters the projector keeps (per cluster, state,
name, worker and queue, and per label value: ``tasktrail_shared.counts``), so that counting
never reads a task.

A caller's scope is a set of clusters, so its count is a sum over them. A list whose filters
the counters do not cover (a time range, a label of too many values...) is counted by reads
instead, up to a bound (see ``ReadPlan.count``). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tasktrail_shared import counts
from tasktrail_shared.counts import Cell, Tally

from tasktrail_api.domain.shapes import LABEL_FIELD, WITH_STATUS, Selection

Totals = Mapping[str, Tally]
"""The counters of each cluster, by its name (``app``)."""
MIN_FIRST = timedelta(milliseconds=1)
MAX_FIRST = timedelta(seconds=1)
"""Bounds of a time read's first window (BSON keeps milliseconds)."""


def parse_totals(docs: Iterable[Mapping[str, Any]]) -> dict[str, Tally]:
    """The ``total`` counter documents, by cluster, with their label totals where they were
    read. Every cluster with tasks has one (the projector registers a cluster before it
    writes the cluster's first task). The label totals count only beside the ``total`` they
    were written with (the same ``stamp``: the two are written together, not atomically);
    otherwise the tally holds ``counts.UNKNOWN`` and label lists are counted by reading."""
    docs = list(docs)
    labels = {str(d["app"]): d for d in docs if d.get("level") == counts.TOTAL_LABELS}
    found: dict[str, Tally] = {}
    for doc in docs:
        if doc.get("level", counts.TOTAL) != counts.TOTAL:
            continue
        app = str(doc["app"])
        tally = found[app] = counts.from_rows(doc.get(counts.STATE_ROWS) or [])
        beside = labels.get(app)
        if beside is None or beside.get("stamp") != doc.get("stamp"):
            tally[counts.UNKNOWN] = Cell(1)
        else:
            tally.update(counts.from_rows(beside.get(counts.LABEL_ROWS) or []))
    return found


def _cell(selection: Selection, totals: Totals) -> Cell | None:
    """What the counters say of the selection; ``None`` when they cannot say."""
    if selection.time is not None or selection.narrow is not None:
        return None
    dimension, value = counts.ALL, counts.ALL
    if selection.primary is not None:
        name, values = selection.primary
        if name.startswith(LABEL_FIELD) and selection.states is None:
            return _labelled(selection, totals, name.removeprefix(LABEL_FIELD), values)
        if name not in WITH_STATUS or len(values) != 1 or not isinstance(values[0], str):
            return None
        dimension, value = name, values[0]
    found = Cell(0)
    for app in selection.apps:
        found = found.plus(counts.count(totals.get(app, {}), selection.states, dimension, value))
    return found


def _labelled(
    selection: Selection, totals: Totals, label: str, values: Iterable[object]
) -> Cell | None:
    found = Cell(0)
    for app in selection.apps:
        cell = counts.label_count(totals.get(app, {}), label, values)
        if cell is None:
            return None
        found = found.plus(cell)
    return found


def counted(selection: Selection, totals: Totals) -> int | None:
    """The number of tasks the selection lists, if the counters cover its filters."""
    cell = _cell(selection, totals)
    return None if cell is None else cell.n


@dataclass(frozen=True, slots=True)
class Reach:
    """Where a read ordered by a time starts, and how far its first window reaches."""

    edge: datetime | None = None
    """The highest (newest first) or lowest value the counters know among the tasks they
    match; ``None``: unknown. Only a starting point: the reads go on past it."""
    first: timedelta = MAX_FIRST
    far: datetime | None = None
    """The other extreme (the oldest, newest first): past it, windows stop doubling and the
    rest is one read, so a list that holds fewer rows than a page does not probe every
    empty window back to the limit (the rest is still read: the counters may lag)."""


def reach(
    selection: Selection,
    totals: Totals,
    time: str,
    direction: int,
    need: int,
    longest: timedelta | None = MAX_FIRST,
) -> Reach:
    """Where a read of ``need`` rows ordered by ``time`` starts, and a first window that
    holds about ``need`` of them at the matching tasks' average rate (from the counters;
    from all the selection's clusters' tasks when they cannot say more: a higher rate, so
    a shorter window, never a longer one), and no longer than ``longest``: a burst above
    the average costs a read at most that much of it (``None``: a set, read whole anyway)."""
    cell = _cell(selection, totals)
    if cell is None:
        cell = _cell(Selection(selection.apps, None, None, None, selection.order), totals)
    if cell is None or time not in counts.TIMES or not cell.n:
        return Reach()
    low, high = cell.lowest(time), cell.highest(time)
    edge, far = (high, low) if direction == -1 else (low, high)
    if low is None or high is None:
        return Reach(edge, far=far)
    per_second = cell.n / max((high - low).total_seconds(), 1.0)
    first = timedelta(seconds=need / per_second)
    first = max(first, MIN_FIRST)
    return Reach(edge, first if longest is None else min(first, longest), far)


def state_counts(totals: Totals, apps: Iterable[str]) -> dict[str, int]:
    """Live tasks per state over the clusters ``apps``."""
    found: dict[str, int] = {}
    for app in apps:
        for (d, _, state), cell in totals.get(app, {}).items():
            if d == counts.ALL:
                found[state] = found.get(state, 0) + cell.n
    return found
