"""The task counters: how many live tasks each cluster has per state, and per state and task
name, worker or queue. The projector writes them (``counts`` collection), the API reads them
for list totals and the dashboard; this module is the document shape both agree on.

A *tally* maps a key ``(dimension, value, state)`` to a :class:`Cell`: how many tasks count
under it and the earliest *home* of those tasks. ``("", "", state)`` counts every task in
the state; ``("name", "scan.run", state)`` the ones of that name. A task's home is the
earliest stats slot it has (the least of its ``_slots``), which is at or before every
lifecycle time it has: so ``first`` tells a reader where the oldest matching task can start.

The projector keeps one tally document per cluster (``app``) and per level: each 2-second
slot (the tasks whose home it is), each minute, hour, day and month (the sum of the level
below), and the ``total`` (the sum of the months). Sums are exact whatever their order, so
every level is a pure function of the task documents. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

DIMENSIONS = ("name", "worker", "queue")
"""Task fields counted per value, with the state."""
ALL = ""
"""The dimension (and value) of the keys that count every task of a state."""
LEVELS = ("slot", "minute", "hour", "day", "month", "total")
"""From finest to coarsest; each level sums the one before it."""
TOTAL = "total"

Key = tuple[str, str, str]
"""``(dimension, value, state)``; ``(ALL, ALL, state)`` for every task of the state."""


@dataclass(frozen=True, slots=True)
class Cell:
    n: int
    first: datetime | None = None
    """The earliest home of the counted tasks."""

    def plus(self, other: Cell) -> Cell:
        firsts = [f for f in (self.first, other.first) if f is not None]
        return Cell(self.n + other.n, min(firsts) if firsts else None)


Tally = dict[Key, Cell]


def task_keys(doc: Mapping[str, Any]) -> list[Key]:
    """The keys a live task document counts under (deleted ones count under none)."""
    state = doc.get("state")
    if doc.get("deleted") or not isinstance(state, str):
        return []
    keys: list[Key] = [(ALL, ALL, state)]
    for dimension in DIMENSIONS:
        value = doc.get(dimension)
        if isinstance(value, str) and value:
            keys.append((dimension, value, state))
    return keys


def add(tally: Tally, key: Key, cell: Cell) -> None:
    held = tally.get(key)
    tally[key] = cell if held is None else held.plus(cell)


def summed(tallies: Iterable[Tally]) -> Tally:
    out: Tally = {}
    for tally in tallies:
        for key, cell in tally.items():
            add(out, key, cell)
    return out


def to_rows(tally: Mapping[Key, Cell]) -> list[dict[str, Any]]:
    """A tally as stored: one row per key, in key order (so equal tallies store equally)."""
    return [
        {"d": d, "v": v, "s": s, "n": cell.n, "f": cell.first}
        for (d, v, s), cell in sorted(tally.items())
        if cell.n
    ]


def from_rows(rows: Iterable[Mapping[str, Any]]) -> Tally:
    tally: Tally = {}
    for row in rows:
        add(tally, (str(row["d"]), str(row["v"]), str(row["s"])), Cell(int(row["n"]), row["f"]))
    return tally


def document(
    level: str, app: str, at: datetime | None, tally: Mapping[Key, Cell]
) -> dict[str, Any]:
    """The stored tally of ``app`` at ``level``, for the period starting ``at``."""
    everything = [cell for (d, _, _), cell in tally.items() if d == ALL and cell.n]
    firsts = [c.first for c in everything if c.first is not None]
    return {
        "_id": document_id(level, app, at),
        "level": level,
        "app": app,
        "at": at,
        "n": sum(c.n for c in everything),
        "first": min(firsts) if firsts else None,
        "rows": to_rows(tally),
    }


def document_id(level: str, app: str, at: datetime | None) -> str:
    if at is None:
        return f"{level}/{app}"
    return f"{level}/{app}/{at:%Y-%m-%dT%H:%M:%SZ}"


def count(
    tally: Mapping[Key, Cell], states: Iterable[str] | None, dimension: str = ALL, value: str = ALL
) -> Cell:
    """The tasks of ``states`` (every state if ``None``) under ``dimension`` = ``value``."""
    wanted = None if states is None else set(states)
    found = Cell(0)
    for (d, v, s), cell in tally.items():
        if d == dimension and v == value and (wanted is None or s in wanted):
            found = found.plus(cell)
    return found
