"""The query plan of the task and worker lists: filters as MongoDB queries, and a page as the
indexed reads that make it. Pure: no I/O, no clock (``now`` is passed in).

Values only ever land in equality, range or ``$in`` positions, so a parameter can never
smuggle in an operator. Every query hides deleted documents with ``deleted: false`` (the
projector writes the flag on every document), as a bare equality that leads every index
(see :mod:`tasktrail_api.domain.indexes`).

Lists page two ways: ``offset`` (one read with ``skip``) or an opaque ``cursor`` (the sort
value and ``_id`` of the last row). A cursor page is read as a few *segments*, each a plain
range or equality on the sort key that one index serves: the rows tied with the cursor
(``key == v, _id beyond``), the rows past it (``key < v`` or ``> v``), and the rows without
a value (``key == null``), which sort after every value descending and before ascending.
The first page is the same segments without the tie, so page one and page two are read the
same way and a row can be neither skipped nor repeated.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tasktrail_shared.fields import SEED_LABELS
from tasktrail_shared.states import ON_WORKER, UNFINISHED

from tasktrail_api.domain.cursor import Cursor
from tasktrail_api.domain.filters import EQUAL_FILTERS, TIME_FILTERS, TaskFilters, WorkerFilters
from tasktrail_api.domain.scope import Scope
from tasktrail_api.domain.serializers import TASK_READ_FIELDS, WORKER_READ_FIELDS

Query = dict[str, Any]
SortSpec = list[tuple[str, int]]
Doc = dict[str, Any]

LIVE: Query = {"deleted": False}
"""Every read-model query carries this: deleted tasks and workers stay in the history only."""
MIN_TIME = datetime(1, 1, 1, tzinfo=UTC)
SORT_KEYS: dict[str, Any] = {
    "timestamp": MIN_TIME,
    "received": MIN_TIME,
    "started": MIN_TIME,
    "succeeded": MIN_TIME,
    "runtime": -math.inf,
    "name": "",
}
"""Sortable fields and the lowest value of their type: ``{key: {$gte: lowest}}`` is "has a
value" as a range an index serves (MongoDB compares within one type)."""

TASK_PROJECTION = dict.fromkeys(TASK_READ_FIELDS, 1)
WORKER_PROJECTION = dict.fromkeys(WORKER_READ_FIELDS, 1)
"""Only the fields the serializers read: the projector's internal ``_*`` fields stay in MongoDB."""
WORKER_SORT: SortSpec = [("_id", 1)]
DELETED_FLAG = {"deleted": 1}


@dataclass(frozen=True, slots=True)
class Segment:
    """One indexed read of a page: ``find(query).sort(sort)``."""

    query: Query
    sort: SortSpec


@dataclass(frozen=True, slots=True)
class ReadPlan:
    """A page and its total: ``segments`` read in order until ``limit`` rows are found (the
    first one after skipping ``skip`` rows), each row loaded with ``projection``; ``count``
    is the query of the filters alone."""

    count: Query
    segments: list[Segment]
    projection: Query
    limit: int
    skip: int = 0


@dataclass(frozen=True, slots=True)
class Sort:
    key: str
    direction: int
    """1 ascending, -1 descending; ``_id`` breaks ties in the same direction."""

    @classmethod
    def parse(cls, param: str) -> Sort:
        key = param.removeprefix("-")
        if key not in SORT_KEYS:
            raise ValueError(f"cannot sort by {param!r}")
        return cls(key, -1 if param.startswith("-") else 1)

    @property
    def spec(self) -> SortSpec:
        return [(self.key, self.direction), ("_id", self.direction)]


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


def label_value(raw: str) -> Any:
    """Labels keep their type (``asn_number`` is a number); a query string has none, so a
    numeric text matches the number and the text."""
    if re.fullmatch(r"-?\d{1,18}", raw):
        return {"$in": [int(raw), raw]}
    return raw


def time_range(after: datetime | None, before: datetime | None) -> Query | None:
    """``after`` inclusive, ``before`` exclusive; ``None`` when neither bound is given."""
    cond: Query = {}
    if after is not None:
        cond["$gte"] = after
    if before is not None:
        cond["$lt"] = before
    return cond or None


def _labels(filters: TaskFilters, labels: Mapping[str, str]) -> Query:
    wanted = {n: getattr(filters, n) for n in SEED_LABELS if getattr(filters, n)}
    wanted.update(labels)
    return {f"labels.{name}": label_value(value) for name, value in wanted.items()}


def _times(filters: TaskFilters) -> Query:
    ranges = {field: time_range(*filters.time_range(field)) for field in TIME_FILTERS}
    return {field: cond for field, cond in ranges.items() if cond is not None}


def task_query(filters: TaskFilters, labels: Mapping[str, str] | None = None) -> Query:
    """The query for the filters alone (what ``count`` counts), ``deleted: false`` included."""
    query: Query = {
        field: value for field in EQUAL_FILTERS if (value := getattr(filters, field)) is not None
    }
    if filters.status is not None:
        wanted = filters.status.split(",")
        query["state"] = wanted[0] if len(wanted) == 1 else {"$in": wanted}
    query.update(_labels(filters, labels or {}))
    if filters.published is not None:
        query["sent"] = {"$gte": MIN_TIME} if filters.published else None
    query.update(_times(filters))
    return {**query, **LIVE}


def and_query(base: Query, extra: Query) -> Query:
    """``base`` and ``extra``; a field both constrain keeps both ranges in one condition
    when they are ranges (so one index still serves it), else the two go under ``$and``."""
    merged = dict(base)
    for field, cond in extra.items():
        if field not in merged:
            merged[field] = cond
            continue
        combined = _both_ranges(merged[field], cond)
        if combined is None:
            return {"$and": [base, extra]}
        merged[field] = combined
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


def segments(
    base: Query, sort: Sort, cursor: Cursor | None, now: datetime | None = None
) -> list[Segment]:
    """The reads that make the page after ``cursor`` (the first page if ``None``), in order.

    With ``now``, a newest-first read on a time key goes back in windows (see ``_windows``).
    """
    key, d = sort.key, sort.direction
    valued = Segment(and_query(base, {key: {"$gte": SORT_KEYS[key]}}), sort.spec)
    unvalued = Segment(and_query(base, {key: None}), [("_id", d)])
    windowed = now is not None and d == -1 and isinstance(SORT_KEYS[key], datetime)
    windowed = windowed and _walks(base, key)
    if cursor is None:
        if d == 1:
            return [unvalued, valued]
        first = _windows(valued, key, now) if windowed and now is not None else [valued]
        return [*first, unvalued]
    return _after(base, sort, cursor, valued, unvalued, windowed)


def _after(
    base: Query, sort: Sort, cursor: Cursor, valued: Segment, unvalued: Segment, windowed: bool
) -> list[Segment]:
    key, d = sort.key, sort.direction
    past = "$gt" if d == 1 else "$lt"
    ties = Segment(and_query(base, {key: cursor.value, "_id": {past: cursor.id}}), [("_id", d)])
    if cursor.value is None:
        return [ties, valued] if d == 1 else [ties]
    beyond = Segment(and_query(base, {key: {past: cursor.value}}), sort.spec)
    if d == 1:
        return [ties, beyond]
    if windowed and isinstance(cursor.value, datetime):
        return [ties, *_windows(beyond, key, cursor.value), unvalued]
    return [ties, beyond, unvalued]


WINDOWS = tuple(timedelta(seconds=2**i) for i in range(28))
"""How far back each window of a newest-first time read reaches: 1 s, 2 s, 4 s... ~4 years.
Doubling keeps the window that fills a page at most about twice what the page needs past the
first empty ones, which cost an index probe each."""


def _walks(base: Query, key: str) -> bool:
    """Whether one index serves both the filters and a range on ``key``: no filter but
    ``deleted`` (and a range on ``key``), or, for ``timestamp``, one equality filter (its
    index ends with the default sort). Otherwise the server would filter each window on
    another index, which costs more than one read."""
    others = [field for field in base if field not in ("deleted", key)]
    if not others:
        return True
    return key == "timestamp" and len(others) == 1 and not isinstance(base[others[0]], dict)


def _windows(segment: Segment, key: str, start: datetime) -> list[Segment]:
    """``segment`` (newest first on the time ``key``) as consecutive windows going back from
    ``start``: ``[start - 1 s, ...)``, ``[start - 2 s, start - 1 s)``... then the rest.

    The reader stops once the page is full, so a page of recent tasks reads only recent
    index entries. MongoDB would walk the index and stop by itself; SecantusDB sorts every
    document a query matches, so without windows the newest 100 of 100k tasks read them all.
    """
    parts: list[Segment] = []
    upper: datetime | None = None  # the first window keeps the segment's own upper bound
    for span in WINDOWS:
        if start - MIN_TIME <= span:
            break
        lower = start - span
        window = {"$gte": lower} if upper is None else {"$gte": lower, "$lt": upper}
        parts.append(Segment(and_query(segment.query, {key: window}), segment.sort))
        upper = lower
    if upper is None:
        return [*parts, segment]
    return [*parts, Segment(and_query(segment.query, {key: {"$lt": upper}}), segment.sort)]


def task_page(
    filters: TaskFilters,
    labels: Mapping[str, str],
    cursor: Cursor | None,
    now: datetime,
    scope: Scope,
) -> ReadPlan:
    """The reads of one page of tasks: ``skip`` with ``offset``, else segments after ``cursor``."""
    base = within(task_query(filters, labels), scope)
    sort = Sort.parse(filters.sort)
    parts = [Segment(base, sort.spec)] if filters.offset else segments(base, sort, cursor, now)
    return ReadPlan(base, parts, TASK_PROJECTION, filters.limit, filters.offset)


def by_ids(ids: Sequence[str], projection: Query, sort: SortSpec, scope: Scope) -> ReadPlan:
    """The live documents of ``ids`` in ``scope`` (the others are missing), one read."""
    query = within({"_id": {"$in": sorted(set(ids))}, **LIVE}, scope)
    return ReadPlan(query, [Segment(query, sort)], projection, max(len(ids), 1))


def tasks_among(
    ids: Sequence[str], filters: TaskFilters, labels: Mapping[str, str], scope: Scope
) -> ReadPlan:
    """Those of ``ids`` that match the filters, in the filters' order: what a live list
    shows of the tasks that just changed (the same query as the list's, on fewer ids)."""
    query = and_query(
        within(task_query(filters, labels), scope), {"_id": {"$in": sorted(set(ids))}}
    )
    spec = Sort.parse(filters.sort).spec
    return ReadPlan(query, [Segment(query, spec)], TASK_PROJECTION, max(len(ids), 1))


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
    query = within(worker_query(filters, now), scope)
    return ReadPlan(
        query, [Segment(query, WORKER_SORT)], WORKER_PROJECTION, filters.limit, filters.offset
    )


def worker_by_id(worker_id: str) -> Query:
    """The seed's ids are the worker's uuid; a hostname is accepted as well."""
    return {"$or": [{"id": worker_id}, {"_id": worker_id}]}


def online_workers(now: datetime, scope: Scope) -> Query:
    return {**online_condition(True, now), **LIVE, **scope.condition()}


def task_state_counts(scope: Scope) -> list[Query]:
    match = {**LIVE, **scope.condition()}
    return [{"$match": match}, {"$group": {"_id": "$state", "n": {"$sum": 1}}}]


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
