"""List totals and dashboard counts from the counters the projector keeps (per cluster, state,
name, worker and queue: ``tasktrail_shared.counts``), so that counting never reads a task.

A caller's scope is a set of clusters, so its count is a sum over them. A list whose filters
the counters do not cover (a label, a time range...) is counted by reads instead, up to a
bound (see ``ReadPlan.count``). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from tasktrail_shared import counts
from tasktrail_shared.counts import Cell, Tally

from tasktrail_api.domain.shapes import WITH_STATUS, Selection

Totals = Mapping[str, Tally]
"""The counters of each cluster, by its name (``app``)."""


def parse_totals(docs: Iterable[Mapping[str, Any]]) -> dict[str, Tally]:
    """The ``total`` counter documents, by cluster. Every cluster with tasks has one (the
    projector registers a cluster before it writes the cluster's first task)."""
    return {str(d["app"]): counts.from_rows(d.get("rows") or []) for d in docs}


def _cell(selection: Selection, totals: Totals) -> Cell | None:
    """What the counters say of the selection; ``None`` when they cannot say."""
    if selection.time is not None or selection.narrow is not None:
        return None
    dimension, value = counts.ALL, counts.ALL
    if selection.primary is not None:
        name, values = selection.primary
        if name not in WITH_STATUS or len(values) != 1 or not isinstance(values[0], str):
            return None
        dimension, value = name, values[0]
    found = Cell(0)
    for app in selection.apps:
        found = found.plus(counts.count(totals.get(app, {}), selection.states, dimension, value))
    return found


def counted(selection: Selection, totals: Totals) -> int | None:
    """The number of tasks the selection lists, if the counters cover its filters."""
    cell = _cell(selection, totals)
    return None if cell is None else cell.n


def extreme(selection: Selection, totals: Totals, time: str, direction: int) -> datetime | None:
    """Where a list sorted on ``time`` starts: the highest (``direction`` -1) or lowest value
    the counters know among the tasks they match (among all the selection's clusters' tasks
    when they cannot say more). A bound on what is counted: a reader still reads past it."""
    cell = _cell(selection, totals)
    if cell is None:
        every = Selection(selection.apps, None, None, None, selection.order)
        cell = _cell(every, totals)
    if cell is None or time not in counts.TIMES:
        return None
    return cell.highest(time) if direction == -1 else cell.lowest(time)


def state_counts(totals: Totals, apps: Iterable[str]) -> dict[str, int]:
    """Live tasks per state over the clusters ``apps``."""
    found: dict[str, int] = {}
    for app in apps:
        for (d, _, state), cell in totals.get(app, {}).items():
            if d == counts.ALL:
                found[state] = found.get(state, 0) + cell.n
    return found
