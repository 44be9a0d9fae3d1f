"""The query plan of the task and worker lists: filters as MongoDB queries, and a page as the
indexed reads that make it. Pure: no I/O, no clock (``now`` is passed in).

Values only ever land in equality, range or ``$in`` positions, so a parameter can never
smuggle in an operator. Every query hides deleted documents with ``deleted: false`` (the
projector writes the flag on every document), as a bare equality that leads every index
(see :mod:`tasktrail_api.domain.indexes`).

A task list (classified by :mod:`tasktrail_api.domain.shapes`) is read as *steps*, in order,
until the page is full. A step is a few *segments* whose rows are merged in the sort's order:
one per *branch* (each cluster, each status, each value of the filter: all equalities, so
that one index serves each; a list that names no status is read state by state where its
index has ``state``, see :func:`by_state`), all with the same condition on the sort's time.
Every segment is thus "equalities, then one range", the shape both MongoDB and SecantusDB
serve from an index without reading past it. The conditions on the time, step by step:

* the rows tied with the cursor (``key == v, _id beyond``), when there is a cursor;
* *windows*, newest first: from the newest matching value the counters know (or the
  cursor, or ``<key>_before``), the second before (and everything newer: the counters follow
  the projection a moment late), the 2 s before, 4 s... about 4 years, then the rest;
  oldest first, the same going forward from the oldest matching value the counters know,
  after a probe of anything older. The reader stops once the page is full, so a page of
  recent tasks reads only recent index entries whatever the history holds, and a quiet
  spell before now costs nothing;
* the rows without a value (``key == null``), which sort after every value descending and
  before ascending (absent under a time range, which they cannot meet).

The first page is the same steps without the tie, so page one and page two are read the same
way and a row can be neither skipped nor repeated.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

from tasktrail_shared.fields import SEED_LABELS
from tasktrail_shared.states import ALL_STATES, ON_WORKER, UNFINISHED

from tasktrail_api.domain.cursor import Cursor
from tasktrail_api.domain.filters import TaskFilters, WorkerFilters
from tasktrail_api.domain.scope import Scope
from tasktrail_api.domain.serializers import TASK_READ_FIELDS, WORKER_READ_FIELDS
from tasktrail_api.domain.shapes import (
    COUNT_BOUND,
    SET_CAP,
    WITH_STATUS,
    Order,
    Selection,
    select,
)
from tasktrail_api.domain.totals import MIN_FIRST, Reach, Totals, counted, reach

Query = dict[str, Any]
SortSpec = list[tuple[str, int]]
Doc = dict[str, Any]

LIVE: Query = {"deleted": False}
"""Every read-model query carries this: deleted tasks and workers stay in the history only."""
MIN_TIME = datetime(1, 1, 1, tzinfo=UTC)
SECOND = timedelta(seconds=1)
LOWEST: dict[str, Any] = {"runtime": -math.inf, "name": ""}
"""The lowest value of the value sorts' types (a time's is ``MIN_TIME``)."""

TASK_PROJECTION = dict.fromkeys(TASK_READ_FIELDS, 1)
SET_PROJECTION = {**TASK_PROJECTION, "published": 1}
"""A set is filtered here, on every field a filter names."""
WORKER_PROJECTION = dict.fromkeys(WORKER_READ_FIELDS, 1)
"""Only the fields the serializers read: the projector's internal ``_*`` fields stay in MongoDB."""
WORKER_SORT: SortSpec = [("_id", 1)]
DELETED_FLAG = {"deleted": 1}
SET_SHARE = 4
"""A set's first window holds about a quarter of :data:`SET_CAP` at the average rate: a set
is read whole up to the cap, so a window shorter than its time range costs one more read
for nothing, and one that holds the cap only serves to refuse it."""
REACH = timedelta(seconds=2**27)
"""How far from its anchor the last window reaches (~4 years); the rest is one read."""


def spans(first: timedelta) -> list[timedelta]:
    """How far from its anchor each window reaches: ``first``, twice that... up to
    :data:`REACH`. Doubling keeps the window that fills a page at most about twice what the
    page needs past the first empty ones, which cost an index probe each."""
    out = []
    span = first
    while span <= REACH:
        out.append(span)
        span *= 2
    return out


@dataclass(frozen=True, slots=True)
class Segment:
    """One indexed read: ``find(query).sort(sort)``."""

    query: Query
    sort: SortSpec


@dataclass(frozen=True, slots=True)
class Step:
    """Reads whose rows are merged in ``sort`` order (see the module docstring)."""

    segments: tuple[Segment, ...]
    sort: SortSpec


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """The reads of one page: ``steps`` in order until ``skip + limit`` rows are found, each
    row loaded with ``projection``; the first ``skip`` are dropped.

    ``cap``: the page is a set, every row of the steps (up to ``cap + 1``) to be filtered and
    ordered by :func:`finish_set`. ``count``: the steps to count the list with, up to a bound,
    when no counter gives the total (``total``); ``rest``: how a first page's count goes on
    past its rows instead (:func:`rest`).
    """

    steps: list[Step]
    projection: Query
    limit: int
    skip: int = 0
    cap: int | None = None
    total: int | None = None
    count: list[Step] = field(default_factory=list)
    selection: Selection | None = None
    rest: Walked | None = None


@dataclass(frozen=True, slots=True)
class Walked:
    """What a list's windows walk, kept so that its count can go on past a page's rows."""

    parts: tuple[Query, ...]
    order: Order
    limits: tuple[datetime | None, datetime | None] | None
    far: datetime | None
    """The farthest value the counters know in the list's order (``Reach.far``)."""


def by_id(doc_id: str) -> Query:
    return {"_id": doc_id}


NOTHING: Query = {"$in": []}
"""A condition no value meets."""


def within(query: Query, scope: Scope) -> Query:
    """``query`` kept inside ``scope``: an ``app`` filter of its own that the scope does not
    see matches nothing; otherwise the scope's condition joins it (none for a scope of
    everything, so a single team's reads are what they were)."""
    if "app" in query:
        return query if scope.allows(query["app"]) else {**query, "app": NOTHING}
    return {**query, **scope.condition()}


def time_range(after: datetime | None, before: datetime | None) -> Query | None:
    """``after`` inclusive, ``before`` exclusive; ``None`` when neither bound is given."""
    cond: Query = {}
    if after is not None:
        cond["$gte"] = after
    if before is not None:
        cond["$lt"] = before
    return cond or None


def and_query(base: Query, extra: Query) -> Query:
    """``base`` and ``extra``; a field both constrain keeps both ranges in one condition
    when they are ranges (so one index still serves it), else the two go under ``$and``."""
    merged = dict(base)
    for name, cond in extra.items():
        if name not in merged:
            merged[name] = cond
            continue
        combined = _both_ranges(merged[name], cond)
        if combined is None:
            return {"$and": [base, extra]}
        merged[name] = combined
    return merged


def _both_ranges(held: Any, cond: Any) -> Query | None:
    """The tighter of each bound of two range conditions; ``None`` unless both are ranges."""
    ranges = {"$gt", "$gte", "$lt", "$lte"}
    if not (isinstance(held, dict) and isinstance(cond, dict) and set(held) | set(cond) <= ranges):
        return None
    combined = dict(held)
    for op, bound in cond.items():
        if op in combined:
            tighter = max if op in ("$gt", "$gte") else min
            combined[op] = tighter(combined[op], bound)
        else:
            combined[op] = bound
    return combined


# --- task lists ---------------------------------------------------------------------------


def branches(selection: Selection) -> list[Query]:
    """One equality query per cluster, status and filter value (see the module docstring)."""
    apps = [{"app": a} for a in selection.apps]
    values: list[Query] = [{}]
    if selection.narrow is not None:
        if selection.narrow[0] == "uuid":  # its own index: at most one task, any cluster
            return [{**LIVE, "uuid": selection.narrow[1]}]
        values = [{selection.narrow[0]: selection.narrow[1]}]
    elif selection.primary is not None:
        name, accepted = selection.primary
        values = [{name: v} for v in accepted]
    states: list[Query] = [{}]
    wanted = selection.states if selection.states is not None else by_state(selection)
    if wanted and selection.narrow is None:
        states = [{"state": s} for s in wanted]
    return [{**LIVE, **a, **v, **s} for a, v, s in product(apps, values, states)]


def by_state(selection: Selection) -> tuple[str, ...]:
    """The states a list that names none is read in, one part each: every state when its
    index has ``state`` after the filter (no filter, name, worker, queue), else none (one
    part: the filter's own index). Every task has one of them: the projector sets PENDING
    when nothing else says."""
    if selection.primary is None or selection.primary[0] in WITH_STATUS:
        return ALL_STATES
    return ()


def _step(parts: Iterable[Query], cond: Query, sort: SortSpec) -> Step:
    return Step(tuple(Segment({**q, **cond}, sort) for q in parts), sort)


def _bounds(cond: Query) -> Query:
    return {k: v for k, v in cond.items() if v is not None}


def windows_back(
    anchor: datetime,
    upper: datetime | None,
    lower: datetime | None,
    first: timedelta = SECOND,
    far: datetime | None = None,
) -> list[Query]:
    """Range conditions going back from ``anchor``: the first ``first`` deep and below
    ``upper`` (exclusive, ``None``: open), each twice as deep, the last down to ``lower``
    (inclusive) or to the lowest time; once a window reaches below ``far`` (the oldest
    value the counters know), the next is the last."""
    conds: list[Query] = []
    top = upper
    for span in spans(first):
        if anchor - MIN_TIME <= span or (far is not None and top is not None and top <= far):
            break
        bottom = anchor - span
        if lower is not None and bottom <= lower:
            return [*conds, _bounds({"$gte": lower, "$lt": top})]
        conds.append(_bounds({"$gte": bottom, "$lt": top}))
        top = bottom
    return [*conds, _bounds({"$gte": lower or MIN_TIME, "$lt": top})]


def windows_forward(
    start: datetime,
    inclusive: bool,
    upper: datetime | None,
    first: timedelta = SECOND,
    far: datetime | None = None,
) -> list[Query]:
    """Range conditions going forward from ``start``, the first ``first`` long, each twice
    as long, the last up to ``upper`` (exclusive) or open; once a window reaches past
    ``far`` (the newest value the counters know), the next is the last."""
    conds: list[Query] = []
    op, bottom = ("$gte" if inclusive else "$gt"), start
    for span in spans(first):
        if far is not None and bottom > far:
            break
        try:
            top = start + span
        except OverflowError:
            break
        if upper is not None and top >= upper:
            return [*conds, {op: bottom, "$lt": upper}]
        conds.append({op: bottom, "$lt": top})
        op, bottom = "$gte", top
    return [*conds, _bounds({op: bottom, "$lt": upper})]


def walk(
    parts: Sequence[Query],
    order: Order,
    key: str,
    cursor: Cursor | None,
    now: datetime,
    limits: tuple[datetime | None, datetime | None] | None,
    start: Reach | None = None,
) -> list[Step]:
    """The steps of a list sorted on the time ``key`` (see the module docstring).

    ``limits``: the list's time range on ``key`` (after, before), ``None`` for none;
    ``start``: where the counters say the matching tasks start, and the first window's
    length (see ``totals.reach``).
    """
    start = start or Reach()
    if not parts:
        return []
    d = order.direction
    spec = [(key, d), ("_id", d)]
    by_id = [("_id", d)]
    past = "$gt" if d == 1 else "$lt"
    steps: list[Step] = []
    if cursor is not None:
        steps.append(_step(parts, {key: cursor.value, "_id": {past: cursor.id}}, by_id))
    unvalued = [] if limits is not None else [_step(parts, {key: None}, by_id)]
    if d == -1:
        if cursor is not None and cursor.value is None:
            return steps
        conds = _back(cursor, now, limits or (None, None), start)
        return [*steps, *(_step(parts, {key: c}, spec) for c in conds), *unvalued]
    if cursor is None:
        steps += unvalued
    conds = _forward(cursor, limits or (None, None), start)
    return [*steps, *(_step(parts, {key: c}, spec) for c in conds)]


def _back(
    cursor: Cursor | None,
    now: datetime,
    limits: tuple[datetime | None, datetime | None],
    start: Reach,
) -> list[Query]:
    """The windows of a newest-first read: from the cursor, else from the newest value the
    counters know (the first window staying open above it), else from now."""
    lower, upper = limits
    top = cursor.value if cursor is not None else upper
    anchor = top or now
    if cursor is None and start.edge is not None:
        anchor = min(anchor, start.edge)
    return windows_back(anchor, top, lower, start.first, start.far)


def _forward(
    cursor: Cursor | None,
    limits: tuple[datetime | None, datetime | None],
    start: Reach,
) -> list[Query]:
    """The windows of an oldest-first read: past the cursor, else from the oldest value the
    counters know (after a look at anything older: counted since), else from the lower
    bound, else all at once."""
    lower, upper = limits
    edge, first, far = start.edge, start.first, start.far
    if cursor is not None and cursor.value is not None:
        return windows_forward(cursor.value, False, upper, first, far)
    if edge is not None and (lower is None or edge > lower):
        early = _bounds({"$gte": lower or MIN_TIME, "$lt": min(edge, upper) if upper else edge})
        return [early, *windows_forward(edge, True, upper, first, far)]
    if lower is not None:
        return windows_forward(lower, True, upper, first)
    return [_bounds({"$gte": MIN_TIME, "$lt": upper})]


def task_page(
    filters: TaskFilters,
    labels: Mapping[str, str],
    cursor: Cursor | None,
    now: datetime,
    apps: Sequence[str],
    totals: Totals | None = None,
    indexed: Collection[str] = SEED_LABELS,
    count_bound: int = COUNT_BOUND,
) -> ReadPlan:
    """The reads of one page of tasks, and how to count the list (see the module docstring).

    ``apps``: the clusters the caller may read; ``totals``: the counters per cluster;
    ``indexed``: the labels with an index; ``count_bound``: how far a list the counters
    cannot total is counted.
    """
    selection = select(filters, labels, apps, indexed)
    totals = totals or {}
    parts = branches(selection)
    limits = (selection.time.after, selection.time.before) if selection.time else None
    key = selection.walk_key
    newest = Order(key, -1)
    if selection.narrow is not None or selection.is_window_set:
        steps = [Step(tuple(Segment(q, [("_id", 1)]) for q in parts), [("_id", 1)])]
        if selection.narrow is None:
            start = reach(selection, totals, key, -1, SET_CAP // SET_SHARE, longest=None)
            steps = walk(parts, newest, key, None, now, limits, start)
        return ReadPlan(
            steps, TASK_PROJECTION, filters.limit, filters.offset, SET_CAP, None, [], selection
        )
    need = filters.offset + filters.limit
    start = reach(selection, totals, key, selection.order.direction, need)
    steps = walk(parts, selection.order, key, cursor, now, limits, start)
    total = counted(selection, totals)
    count: list[Step] = []
    walked = None
    if total is None:
        start = reach(selection, totals, key, -1, count_bound)
        count = walk(parts, newest, key, None, now, limits, start)
        far = reach(selection, totals, key, selection.order.direction, count_bound).far
        walked = Walked(tuple(parts), selection.order, limits, far)
    return ReadPlan(
        steps, TASK_PROJECTION, filters.limit, filters.offset, None, total, count, selection,
        walked,
    )  # fmt: skip


SLACK = 1.2
"""How much more than it needs the count's first window past a page is sized to hold: the
pace of a page's rows is a sample, and a window short of the bound costs another read."""


def rest(walked: Walked, rows: Sequence[Doc], want: int, now: datetime) -> list[Step]:
    """The steps past ``rows``, the first rows of a walked list (a full first page), to count
    the rest of it: the first window sized to hold about ``want`` rows at the pace the rows
    came in, so that counting to the bound reads on from where the page stopped, about one
    read per branch, instead of windows from the top again (decision 25)."""
    key = walked.order.key
    last = rows[-1]
    after = Cursor("", last.get(key), str(last["_id"]))
    return walk(
        walked.parts, walked.order, key, after, now, walked.limits,
        Reach(None, pace(rows, key, want), walked.far),
    )  # fmt: skip


def pace(rows: Sequence[Doc], key: str, want: int) -> timedelta:
    """How long a stretch of ``key`` holds about ``want`` rows (with :data:`SLACK`) at the pace
    of ``rows``, which are in order; a second when they do not say."""
    head, tail = rows[0].get(key), rows[-1].get(key)
    if not (isinstance(head, datetime) and isinstance(tail, datetime)) or head == tail:
        return SECOND
    per_row: timedelta = abs(head - tail) / (len(rows) - 1)
    return max(per_row * want * SLACK, MIN_FIRST)


def merged(parts: Iterable[list[Doc]], sort: SortSpec) -> list[Doc]:
    """The rows of a step's segments, each already in ``sort`` order, in that order."""
    rows = [row for part in parts for row in part]
    if len(sort) == 1 or len({d for _, d in sort}) == 1:
        return sorted(
            rows, key=lambda r: tuple(r.get(k) for k, _ in sort), reverse=sort[0][1] == -1
        )
    raise ValueError(f"mixed directions in {sort}")


def finish_set(
    rows: Iterable[Doc], selection: Selection, cursor: Cursor | None, limit: int, skip: int
) -> tuple[list[Doc], int]:
    """A set-served page: the rows that meet every filter, in the sort's order (values
    first descending, last ascending), after ``cursor``; and how many met the filters."""
    kept = [row for row in rows if _meets(row, selection)]
    key, d = selection.order.key, selection.order.direction
    ordered = sorted(kept, key=lambda row: _rank(row.get(key), row["_id"], key), reverse=d == -1)
    if cursor is not None:
        mark = _rank(cursor.value, cursor.id, key)
        ordered = [r for r in ordered if _beyond(_rank(r.get(key), r["_id"], key), mark, d)]
    return ordered[skip : skip + limit], len(kept)


def _beyond(rank: tuple[Any, ...], mark: tuple[Any, ...], direction: int) -> bool:
    return rank > mark if direction == 1 else rank < mark


def _valued(value: Any, key: str) -> bool:
    if key in LOWEST:
        kind: Any = (int, float) if key == "runtime" else str
        return isinstance(value, kind) and not isinstance(value, bool)
    return isinstance(value, datetime)


def _rank(value: Any, doc_id: Any, key: str) -> tuple[Any, ...]:
    """A row's place in ascending order: rows without a value first, by ``_id``."""
    if _valued(value, key):
        return (1, value, str(doc_id))
    return (0, 0, str(doc_id))


def _value(row: Mapping[str, Any], path: str) -> Any:
    if path == "published":
        return row.get("sent") is not None
    value: Any = row
    for step in path.split("."):
        value = value.get(step) if isinstance(value, Mapping) else None
    return value


def _meets(row: Mapping[str, Any], selection: Selection) -> bool:
    """Whether a row read for a set meets the selection (its reads covered only part)."""
    if row.get("app") not in selection.apps or not selection.finds(row):
        return False
    if selection.states is not None and row.get("state") not in selection.states:
        return False
    wanted = [*selection.others]
    if selection.narrow is not None:
        wanted.append((selection.narrow[0], (selection.narrow[1],)))
    if any(_value(row, name) not in values for name, values in wanted):
        return False
    time = selection.time
    if time is None:
        return True
    at = row.get(time.field)
    return isinstance(at, datetime) and (
        (time.after is None or at >= time.after) and (time.before is None or at < time.before)
    )


def by_ids(ids: Sequence[str], projection: Query, sort: SortSpec, scope: Scope) -> ReadPlan:
    """The live documents of ``ids`` in ``scope`` (the others are missing), one read."""
    query = within({"_id": {"$in": sorted(set(ids))}, **LIVE}, scope)
    return ReadPlan([Step((Segment(query, sort),), sort)], projection, max(len(ids), 1))


def among(
    rows: Iterable[Doc], filters: TaskFilters, labels: Mapping[str, str], scope: Scope
) -> list[Doc]:
    """Those of ``rows`` (read by id, with :data:`SET_PROJECTION`) that the list of
    ``filters`` shows, in its order: what a live list shows of the tasks that just changed.
    BadRequest if no list shape serves the filters, as the list itself would answer."""
    kept = list(rows)
    apps = sorted({a for r in kept if isinstance(a := r.get("app"), str) and scope.allows(a)})
    selection = select(filters, labels, apps, {*SEED_LABELS, *labels})
    key, d = selection.order.key, selection.order.direction
    kept = [r for r in kept if _meets(r, selection) and _primary(r, selection)]
    return sorted(kept, key=lambda row: _rank(row.get(key), row["_id"], key), reverse=d == -1)


def _primary(row: Mapping[str, Any], selection: Selection) -> bool:
    if selection.primary is None:
        return True
    name, values = selection.primary
    return _value(row, name) in values


# --- workers, dashboard, sync ---------------------------------------------------------------


def online_condition(online: bool, now: datetime) -> Query:
    """A worker is online while ``now < alive_until``; no ``alive_until`` means offline."""
    if online:
        return {"alive_until": {"$gt": now}}
    return {"$or": [{"alive_until": {"$lte": now}}, {"alive_until": None}]}


def worker_query(filters: WorkerFilters, now: datetime) -> Query:
    query: Query = {}
    if filters.name is not None:
        query["hostname"] = filters.name
    if filters.app is not None:
        query["app"] = filters.app
    if filters.status is not None:
        query.update(online_condition(filters.status, now))
    return {**query, **LIVE}


def worker_page(filters: WorkerFilters, now: datetime, scope: Scope) -> ReadPlan:
    """Workers are few (one document per worker process): one read, and a count of it."""
    query = within(worker_query(filters, now), scope)
    steps = [Step((Segment(query, WORKER_SORT),), WORKER_SORT)]
    return ReadPlan(steps, WORKER_PROJECTION, filters.limit, filters.offset, count=steps)


def worker_by_id(worker_id: str) -> Query:
    """The seed's ids are the worker's uuid; a hostname is accepted as well."""
    return {"$or": [{"id": worker_id}, {"_id": worker_id}]}


def online_workers(now: datetime, scope: Scope) -> Query:
    return {**online_condition(True, now), **LIVE, **scope.condition()}


def worker_totals(now: datetime, scope: Scope) -> list[Query]:
    """One row per online/offline group, with its worker count and task totals."""
    return [
        {"$match": {**LIVE, **scope.condition()}},
        {
            "$group": {
                "_id": {"$gt": ["$alive_until", now]},
                "n": {"$sum": 1},
                "active": {"$sum": "$active"},
                "processed": {"$sum": "$processed"},
            }
        },
    ]


def unfinished_tasks(scope: Scope) -> Query:
    """Tasks ``sync`` should look up: not SUCCESS, FAILURE or REVOKED."""
    return {"state": {"$in": list(UNFINISHED)}, **LIVE, **scope.condition()}


# --- selections by id (seed 003's batch methods) ----------------------------------------------


def tasks_on_workers(hosts: Iterable[str], scope: Scope, *, active_only: bool) -> Query:
    """Live tasks sitting on these workers (RECEIVED or STARTED there); ``active_only``:
    not the lost ones (their worker process is gone)."""
    query: Query = {"state": {"$in": sorted(ON_WORKER)}, "worker": {"$in": sorted(set(hosts))}}
    if active_only:
        query["lost"] = {"$in": [False, None]}  # a document from before the flag: not lost
    return within({**query, **LIVE}, scope)


def workers_by_ids(ids: Iterable[str], scope: Scope) -> Query:
    """Live workers by uuid or hostname (as :func:`worker_by_id`)."""
    wanted = sorted(set(ids))
    either = {"$or": [{"id": {"$in": wanted}}, {"_id": {"$in": wanted}}]}
    return within({**either, **LIVE}, scope)
