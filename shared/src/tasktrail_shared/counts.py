"""The task counters: how many live tasks each cluster has per state, and per state and task
name, worker or queue. The projector writes them (``counts`` collection), the API reads them
for list totals and the dashboard; this module is the document shape both agree on.

A *tally* maps a key ``(dimension, value, state)`` to a :class:`Cell`: how many tasks count
under it, and the lowest and highest value of each of their :data:`TIMES`.
``("", "", state)`` counts every task in the state; ``("name", "scan.run", state)`` the ones
of that name. The extremes tell a reader where the newest (or oldest) matching task is, so
that a newest-first list starts reading there rather than at the current time.

A label's tasks are counted per value too, under ``(label:<name>, <value>, "")`` (every
state together: no list filters a label by status), with the extremes of their
``timestamp`` alone (the one time a label list is read by): :func:`label_cells`.

The projector keeps one tally document per cluster (``app``) and per level: each 2-second
slot (the tasks whose *home* it is: a task's earliest slot, the least of its ``_slots``),
each minute, hour, day and month (the sum of the level below), and the ``total`` (the sum
of the months, stored as three documents: :func:`total_documents`). Counts add and extremes
take the least and the greatest, exactly whatever the order, so every level is a pure
function of the task documents. Pure: no I/O.
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
TIMES = ("timestamp", "received", "started", "succeeded")
"""The task times whose extremes each cell keeps (the times a list is sorted by)."""
Moments = tuple[datetime | None, ...]
"""One value (or none) per :data:`TIMES`."""
NONE: Moments = (None,) * len(TIMES)

Key = tuple[str, str, str]
"""``(dimension, value, state)``; ``(ALL, ALL, state)`` for every task of the state."""


@dataclass(frozen=True, slots=True)
class Cell:
    n: int
    low: Moments = NONE
    """The lowest of each of :data:`TIMES` among the counted tasks."""
    high: Moments = NONE
    """The highest of each."""

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> Cell:
        """One task document's cell."""
        times = tuple(t if isinstance(t := doc.get(name), datetime) else None for name in TIMES)
        return cls(1, times, times)

    def plus(self, other: Cell) -> Cell:
        return Cell(
            self.n + other.n, _pick(min, self.low, other.low), _pick(max, self.high, other.high)
        )

    def lowest(self, time: str) -> datetime | None:
        return self.low[TIMES.index(time)]

    def highest(self, time: str) -> datetime | None:
        return self.high[TIMES.index(time)]


def _pick(choose: Any, a: Moments, b: Moments) -> Moments:
    return tuple(
        x if y is None else y if x is None else choose(x, y) for x, y in zip(a, b, strict=True)
    )


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


EVENTS = "ev"
"""The dimension of the lifecycle counters: how many tasks went through each lifecycle event,
whatever their state now, by task name, worker and queue together (one value joins the three
with :data:`SEP`; a failure adds its exception's type). What ``/metrics`` exposes as
celery-exporter's ``celery_task_*_total``: they only grow while tasks are kept."""
SEP = "\x1f"
LIFECYCLE = ("sent", "received", "started", "succeeded", "failed", "retried", "revoked", "rejected")
"""Task time fields, one per Celery task event, each counted once per task that has it."""
RUNTIME_EDGES = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
"""The run-time histogram's bucket bounds (prometheus_client's defaults, as celery-exporter and
Flower use them); ``le:<bound>`` states count the successful runs at or under each."""
RUNTIME_COUNT = "runtime:count"
RUNTIME_MS = "runtime:ms"
"""A state whose ``n`` is the sum of run times in whole milliseconds: integers add exactly."""
NOW = "now:"
"""``now:<STATE>``: the tasks in that state now (Flower's prefetched tasks are ``RECEIVED``)."""
PREFETCH_COUNT = "prefetch:count"
PREFETCH_MS = "prefetch:ms"
"""Tasks that were received and started, and the sum of their waits at the worker (ms)."""


def exception_type(text: Any) -> str:
    """``ValueError('x')`` -> ``ValueError``: the label celery-exporter gives a failure."""
    if not isinstance(text, str) or not text:
        return ""
    return text.split("(", 1)[0].strip()[:200]


def labels_of(value: str) -> list[str]:
    """The parts of an :data:`EVENTS` value: name, worker, queue (and exception)."""
    return value.split(SEP)


def lifecycle_cells(doc: Mapping[str, Any]) -> list[tuple[Key, Cell]]:
    """The lifecycle counters a live task document adds to: one per lifecycle time it has,
    its state now, its wait at the worker (received to started) and its run time's
    histogram."""
    if doc.get("deleted") or not isinstance(doc.get("state"), str):
        return []
    parts = [str(doc[f]) if isinstance(doc.get(f), str) else "" for f in DIMENSIONS]
    joint = SEP.join(parts)
    one = Cell(1)
    out: list[tuple[Key, Cell]] = []
    for field in LIFECYCLE:
        if isinstance(doc.get(field), datetime):
            value = (
                SEP.join([*parts, exception_type(doc.get("exception"))])
                if field == "failed"
                else joint
            )
            out.append(((EVENTS, value, field), one))
    out.append(((EVENTS, joint, f"{NOW}{doc['state']}"), one))
    received, started = doc.get("received"), doc.get("started")
    if isinstance(received, datetime) and isinstance(started, datetime) and started >= received:
        out.append(((EVENTS, joint, PREFETCH_COUNT), one))
        wait = round((started - received).total_seconds() * 1000)
        out.append(((EVENTS, joint, PREFETCH_MS), Cell(wait)))
    runtime = doc.get("runtime")
    if (
        isinstance(doc.get("succeeded"), datetime)
        and isinstance(runtime, int | float)
        and runtime >= 0
    ):
        out.append(((EVENTS, joint, RUNTIME_COUNT), one))
        out.append(((EVENTS, joint, RUNTIME_MS), Cell(round(float(runtime) * 1000))))
        out.extend(
            ((EVENTS, joint, f"le:{edge:g}"), one) for edge in RUNTIME_EDGES if runtime <= edge
        )
    return out


LABEL = "label:"
"""The prefix of a label counter's dimension: ``label:cidr_id``."""
LABEL_VALUES = 100
"""Values of one label a counter document keeps at most, by default
(``TASKTRAIL_PROJECTOR_LABEL_VALUES``): past it, the period's rows of that label become the
one :data:`OVER` row, and lists filtered by it are counted by reading. It bounds what a
label of ids (a value per task) costs each sweep: at most this many rows per slot."""
OVER = "\x1fover"
"""The value of the row that stands for a label with more than :data:`LABEL_VALUES`."""
UNKNOWN: Key = (LABEL, ALL, ALL)
"""Present when a document summed into a tally predates the label counters (it has no
:data:`LABEL_ROWS`): the tally's label counts are then short, and nobody may use them."""


def label_value(value: object) -> str | None:
    """A label's value as a counter key, typed so that the keys of distinct values differ
    exactly as a list filter tells them apart: a filter's text matches the same text, and
    when it is a whole number also the number (an integer or an integral float, as MongoDB
    compares numbers). ``None`` for values no filter matches (flags, fractions)."""
    if isinstance(value, str):
        return f"s{value}"
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return f"n{value}"
    if isinstance(value, float) and value.is_integer():
        return f"n{int(value)}"
    return None


def label_cells(doc: Mapping[str, Any]) -> list[tuple[Key, Cell]]:
    """The label counters a live task document adds to: one per label it has, with its
    ``timestamp`` as the only time."""
    labels = doc.get("labels")
    if doc.get("deleted") or not isinstance(doc.get("state"), str) or not labels:
        return []
    at = doc.get("timestamp")
    moments = (at if isinstance(at, datetime) else None, *NONE[1:])
    cell = Cell(1, moments, moments)
    return [
        ((f"{LABEL}{name}", key, ALL), cell)
        for name, value in sorted(labels.items())
        if (key := label_value(value)) is not None
    ]


def capped(tally: Mapping[Key, Cell], limit: int = LABEL_VALUES) -> Tally:
    """``tally`` with each label of more than ``limit`` values (or already :data:`OVER` in a
    part of it) reduced to one :data:`OVER` row. Whether a label is over depends only on how
    many values it has in the period, and a sum with an over part is over, so a count is
    exact or unknown, never short, even across a change of ``limit``."""
    values: dict[str, int] = {}
    over: set[str] = set()
    for d, v, _ in tally:
        if d.startswith(LABEL) and d != LABEL:
            values[d] = values.get(d, 0) + 1
            if v == OVER:
                over.add(d)
    over |= {d for d, n in values.items() if n > limit}
    if not over:
        return dict(tally)
    out: Tally = {key: cell for key, cell in tally.items() if key[0] not in over}
    out.update({(d, OVER, ALL): Cell(1) for d in over})
    return out


def is_label(key: Key) -> bool:
    return key[0].startswith(LABEL)


def label_count(tally: Mapping[Key, Cell], name: str, values: Iterable[object]) -> Cell | None:
    """The tasks whose label ``name`` is one of ``values``; ``None`` when the tally cannot
    say (it predates label counters, or the label has too many values to count)."""
    dimension = f"{LABEL}{name}"
    if UNKNOWN in tally or (dimension, OVER, ALL) in tally:
        return None
    found = Cell(0)
    for key in {k for v in values if (k := label_value(v)) is not None}:
        found = found.plus(tally.get((dimension, key, ALL), Cell(0)))
    return found


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
    """A tally as stored: one row per key, in key order (so equal tallies store equally).
    A cell without times (every lifecycle counter) stores none."""
    rows: list[dict[str, Any]] = []
    for (d, v, s), cell in sorted(tally.items()):
        if not cell.n:
            continue
        row: dict[str, Any] = {"d": d, "v": v, "s": s, "n": cell.n}
        if cell.low != NONE or cell.high != NONE:
            row |= {"lo": _trimmed(cell.low), "hi": _trimmed(cell.high)}
        rows.append(row)
    return rows


def _trimmed(moments: Moments) -> list[datetime | None]:
    """Without the trailing empty times (a label cell keeps only the first)."""
    kept = list(moments)
    while kept and kept[-1] is None:
        kept.pop()
    return kept


def from_rows(rows: Iterable[Mapping[str, Any]]) -> Tally:
    tally: Tally = {}
    for row in rows:
        cell = Cell(int(row["n"]), _moments(row.get("lo")), _moments(row.get("hi")))
        add(tally, (str(row["d"]), str(row["v"]), str(row["s"])), cell)
    return tally


STATE_ROWS = "rows"
LIFECYCLE_ROWS = "events"
LABEL_ROWS = "labels"
"""The fields of a counter document: the rows of the task counters, those of the
lifecycle counters (:data:`EVENTS`) and those of the label counters (:data:`LABEL`)."""
TOTAL_LIFECYCLE = "total-lifecycle"
"""The level of the document that holds a cluster's lifecycle totals, apart from its
``total`` document. Every list and the dashboard read the ``total`` documents (a few hundred
rows); only ``/metrics`` reads the lifecycle totals: one row per task name, worker, queue
and counter, thousands on a real cluster, 96 % of the whole (docs/decisions/0023)."""
TOTAL_LABELS = "total-labels"
"""The level of the document that holds a cluster's label totals: only lists filtered by a
label read it, beside the ``total`` document that carries the same ``stamp``
(docs/decisions/0026)."""


def stored(doc: Mapping[str, Any]) -> Tally:
    """The whole tally of a counter document: every field (a document written before they
    were apart holds everything in the first). One written before the label counters
    existed carries :data:`UNKNOWN`."""
    tally = from_rows(
        [*(doc.get(STATE_ROWS) or []), *(doc.get(LIFECYCLE_ROWS) or []),
         *(doc.get(LABEL_ROWS) or [])]
    )  # fmt: skip
    if LABEL_ROWS not in doc:
        tally[UNKNOWN] = Cell(1)
    return tally


def _moments(raw: Any) -> Moments:
    values = list(raw) if isinstance(raw, list) else []
    values += [None] * (len(TIMES) - len(values))
    return tuple(v if isinstance(v, datetime) else None for v in values[: len(TIMES)])


def document(
    level: str, app: str, at: datetime | None, tally: Mapping[Key, Cell]
) -> dict[str, Any]:
    """The stored tally of ``app`` at ``level``, for the period starting ``at``."""
    everything = [cell for (d, _, _), cell in tally.items() if d == ALL and cell.n]
    lifecycle = {key: cell for key, cell in tally.items() if key[0] == EVENTS}
    labels = {key: cell for key, cell in tally.items() if is_label(key)}
    return {
        "_id": document_id(level, app, at),
        "level": level,
        "app": app,
        "at": at,
        "n": sum(c.n for c in everything),
        STATE_ROWS: to_rows(
            {k: c for k, c in tally.items() if k not in lifecycle and k not in labels}
        ),
        LIFECYCLE_ROWS: to_rows(lifecycle),
        LABEL_ROWS: to_rows(labels),
    }


def total_documents(app: str, tally: Mapping[Key, Cell]) -> list[dict[str, Any]]:
    """The stored totals of ``app``: its ``total`` document with the task counters alone,
    its :data:`TOTAL_LIFECYCLE` document with the lifecycle counters and its
    :data:`TOTAL_LABELS` document with the label counters."""
    whole = document(TOTAL, app, None, tally)
    apart: dict[str, list[Any]] = {STATE_ROWS: [], LIFECYCLE_ROWS: [], LABEL_ROWS: []}
    return [
        {**whole, LIFECYCLE_ROWS: [], LABEL_ROWS: []},
        {**whole, **apart, "_id": document_id(TOTAL_LIFECYCLE, app, None),
         "level": TOTAL_LIFECYCLE, LIFECYCLE_ROWS: whole[LIFECYCLE_ROWS]},
        {**whole, **apart, "_id": document_id(TOTAL_LABELS, app, None),
         "level": TOTAL_LABELS, LABEL_ROWS: whole[LABEL_ROWS]},
    ]  # fmt: skip


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
