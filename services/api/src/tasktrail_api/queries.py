"""Query parameters and the MongoDB queries they become. Pure: no I/O, no clock.

Values only ever land in equality, range or ``$in`` positions, so a parameter can never
smuggle in an operator. Every query hides deleted records with ``deleted: false`` (the
projector writes the flag on every document), as a bare equality that leads every index
(see :data:`TASK_INDEXES`).

Lists page two ways: ``offset`` (one query with ``skip``) or an opaque ``cursor`` (the sort
value and ``_id`` of the last row). A cursor page is read as a few *segments*, each a plain
range or equality on the sort key that one index serves: the rows tied with the cursor
(``key == v, _id beyond``), the rows past it (``key < v`` or ``> v``), and the rows without
a value (``key == null``), which sort after every value descending and before ascending.
The first page is the same segments without the tie, so page one and page two are read the
same way and a row can be neither skipped nor repeated.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from tasktrail_shared.fields import LABEL_NAME_PATTERN, SEED_LABELS
from tasktrail_shared.states import UNFINISHED, parse_status
from tasktrail_shared.times import bounded

from tasktrail_api import serializers

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Query = dict[str, Any]
SortSpec = list[tuple[str, int]]

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
LIVE: Query = {"deleted": False}
"""Every read-model query carries this: deleted records stay in the history only."""

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
DEFAULT_SORT = "-timestamp"
TIME_FILTERS = ("received", "started", "succeeded", "timestamp")
EQUAL_FILTERS = ("uuid", "name", "worker", "parent_id", "root_id", "queue", "app")
LABEL_FILTERS = SEED_LABELS
"""Seed 000's label filters; any label is also ``label.<name>=value``."""
LABEL_PARAM = re.compile(r"^label\.(" + LABEL_NAME_PATTERN.strip("^$") + ")$")
SortParam = Literal[
    "timestamp",
    "-timestamp",
    "received",
    "-received",
    "started",
    "-started",
    "succeeded",
    "-succeeded",
    "runtime",
    "-runtime",
    "name",
    "-name",
]

TASK_PROJECTION = dict.fromkeys(serializers.TASK_FIELDS, 1)
WORKER_PROJECTION = dict.fromkeys(serializers.WORKER_FIELDS, 1)
"""Only the fields the serializers read: the projector's internal ``_*`` fields stay in MongoDB."""
WORKER_SORT: SortSpec = [("_id", 1)]


def _live(*keys: str) -> dict[str, Any]:
    """``deleted`` first: every query pins it by equality, then filters, then sorts (ESR)."""
    return {"keys": [("deleted", 1), *((k, 1) for k in keys)]}


TASK_INDEXES: dict[str, dict[str, Any]] = {
    **{f"live_{k}": _live(k, "_id") for k in (*SORT_KEYS, "sent")},
    **{f"live_{f}_ts": _live(f, "timestamp", "_id") for f in ("state", *EQUAL_FILTERS[1:])},
    "live_uuid": _live("uuid"),
    **{f"live_label_{n}": _live(f"labels.{n}", "timestamp", "_id") for n in LABEL_FILTERS},
}
"""The indexes behind every task filter and sort (the API creates them at start-up): after
``deleted``, one per sort key with ``_id`` as tie-break, one per equality filter followed by
the default sort. ``uuid`` equals ``_id``, but a query on ``_id`` plus ``deleted`` is a
collection scan on SecantusDB, so it has an index of its own."""
WORKER_INDEXES: dict[str, dict[str, Any]] = {
    "live_hostname": _live("hostname"),
    "live_alive_until": _live("alive_until", "_id"),
}
EVENT_INDEXES: dict[str, dict[str, Any]] = {
    "audit_time": {"keys": [("timestamp", 1), ("_id", 1)]},
    "audit_type": {"keys": [("events.type", 1), ("timestamp", 1)]},
    "audit_actor": {"keys": [("events.event.actor", 1), ("timestamp", 1)]},
}
"""``task_events`` indexes for ``/monitor/events`` (the projector's ``(uuids, timestamp)``
serves one task's history)."""


class Page(BaseModel):
    model_config = ConfigDict(extra="ignore")

    limit: int = Field(default=DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    offset: int = Field(default=0, ge=0, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _empty_means_absent(cls, data: Any) -> Any:
        """``?status=`` from a form is "no filter", as in the original API."""
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if v != ""}
        return data


class TaskFilters(Page):
    uuid: Text | None = None
    status: Text | None = None
    """A state name (any case) or letter; several may be given comma-separated."""
    name: Text | None = None
    worker: Text | None = None
    parent_id: Text | None = None
    root_id: Text | None = None
    queue: Text | None = None
    app: Text | None = None
    cidr_id: Text | None = None
    cidr_ip_network: Text | None = None
    asn_id: Text | None = None
    asn_number: Text | None = None
    published: bool | None = None
    """``true``: the task-sent event was seen (``sent`` is set); ``false``: it was not."""
    received_after: AwareDatetime | None = None
    received_before: AwareDatetime | None = None
    started_after: AwareDatetime | None = None
    started_before: AwareDatetime | None = None
    succeeded_after: AwareDatetime | None = None
    succeeded_before: AwareDatetime | None = None
    timestamp_after: AwareDatetime | None = None
    timestamp_before: AwareDatetime | None = None
    sort: SortParam = "-timestamp"
    cursor: Annotated[str, StringConstraints(max_length=2048)] | None = None

    @field_validator("status")
    @classmethod
    def _known_states(cls, value: str | None) -> str | None:
        if value is None:
            return None
        wanted = [parse_status(part) for part in value.split(",") if part.strip()]
        if not wanted:
            raise ValueError(f"unknown task status {value!r}")
        return ",".join(dict.fromkeys(wanted))

    @field_validator(*(f"{f}_{e}" for f in TIME_FILTERS for e in ("after", "before")))
    @classmethod
    def _in_range(cls, value: datetime | None) -> datetime | None:
        return bounded(value)


class WorkerFilters(Page):
    name: Text | None = None
    status: bool | None = None
    """Online (``1``/``true``) or offline (``0``/``false``)."""
    app: Text | None = None


def label_value(raw: str) -> Any:
    """Labels keep their type (``asn_number`` is a number); a query string has none, so a
    numeric text matches the number and the text."""
    if re.fullmatch(r"-?\d{1,18}", raw):
        return {"$in": [int(raw), raw]}
    return raw


def label_filters(params: Mapping[str, str]) -> dict[str, str]:
    """``label.<name>=value`` query parameters, by label name; raises on a bad name."""
    found: dict[str, str] = {}
    for key, value in params.items():
        if not key.startswith("label."):
            continue
        match = LABEL_PARAM.match(key)
        if match is None:
            raise ValueError(f"{key}: a label name is a letter then letters, digits or _")
        if value.strip():
            if len(value) > 255:
                raise ValueError(f"{key}: at most 255 characters")
            found[match.group(1)] = value.strip()
    return found


def _time_range(after: datetime | None, before: datetime | None) -> Query | None:
    cond: Query = {}
    if after is not None:
        cond["$gte"] = after
    if before is not None:
        cond["$lt"] = before
    return cond or None


def task_query(filters: TaskFilters, labels: Mapping[str, str] | None = None) -> Query:
    """The query for the filters alone (what ``count`` counts), ``deleted: false`` included."""
    query: Query = {
        field: value for field in EQUAL_FILTERS if (value := getattr(filters, field)) is not None
    }
    if filters.status is not None:
        wanted = filters.status.split(",")
        query["state"] = wanted[0] if len(wanted) == 1 else {"$in": wanted}
    all_labels = {n: getattr(filters, n) for n in LABEL_FILTERS if getattr(filters, n)}
    all_labels.update(labels or {})
    for name, value in all_labels.items():
        query[f"labels.{name}"] = label_value(value)
    if filters.published is not None:
        query["sent"] = {"$gte": MIN_TIME} if filters.published else None
    for field in TIME_FILTERS:
        cond = _time_range(getattr(filters, f"{field}_after"), getattr(filters, f"{field}_before"))
        if cond is not None:
            query[field] = cond
    return {**query, **LIVE}


def task_by_id(task_id: str) -> Query:
    return {"_id": task_id}


# --- sorting and cursors ------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: the sort it belongs to, and the last row's sort value and ``_id``."""

    sort: str
    value: Any
    id: str


class BadCursor(ValueError):
    """The cursor was not made by this API for this sort."""


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return {"t": round(moment.timestamp() * 1000)}
    if isinstance(value, float):
        return {"f": repr(value)}
    if value is None or isinstance(value, str | int):
        return value
    return {"s": str(value)}


def _decode_value(raw: Any) -> Any:
    if isinstance(raw, dict) and len(raw) == 1:
        ((tag, inner),) = raw.items()
        if tag == "t" and isinstance(inner, int):
            return datetime.fromtimestamp(inner / 1000, UTC)
        if tag == "f" and isinstance(inner, str):
            return float(inner)
        if tag == "s" and isinstance(inner, str):
            return inner
        raise BadCursor("unreadable value")
    if raw is None or (isinstance(raw, str | int) and not isinstance(raw, bool)):
        return raw
    raise BadCursor("unreadable value")


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps(
        {"s": cursor.sort, "v": _encode_value(cursor.value), "i": cursor.id},
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, sort: str) -> Cursor:
    """The cursor in ``token``; :class:`BadCursor` unless it was made for ``sort``."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(raw, dict) or not isinstance(raw.get("i"), str):
            raise BadCursor("not a cursor")
        value = _decode_value(raw.get("v"))
    except (binascii.Error, ValueError, UnicodeDecodeError, OverflowError, OSError) as exc:
        raise BadCursor("not a cursor from this API") from exc
    if raw.get("s") != sort:
        raise BadCursor(f"this cursor belongs to sort={raw.get('s')!r}, not sort={sort!r}")
    return Cursor(sort, value, raw["i"])


def cursor_after(doc: Mapping[str, Any], sort: Sort, param: str) -> str:
    return encode_cursor(Cursor(param, doc.get(sort.key), str(doc["_id"])))


@dataclass(frozen=True, slots=True)
class Segment:
    """One indexed read of a cursor page: ``find(query).sort(sort)``."""

    query: Query
    sort: SortSpec


def _and(base: Query, extra: Query) -> Query:
    """``base`` and ``extra``; a field both constrain keeps both ranges in one condition
    when they are ranges (so one index still serves it), else the two go under ``$and``."""
    merged = dict(base)
    for field, cond in extra.items():
        if field not in merged:
            merged[field] = cond
            continue
        held = merged[field]
        both_ranges = (
            isinstance(held, dict)
            and isinstance(cond, dict)
            and set(held) | set(cond) <= {"$gt", "$gte", "$lt", "$lte"}
        )
        if not both_ranges:
            return {"$and": [base, extra]}
        combined = dict(held)
        for op, bound in cond.items():
            if op in combined:
                tighter = max if op in ("$gt", "$gte") else min
                combined[op] = tighter(combined[op], bound)
            else:
                combined[op] = bound
        merged[field] = combined
    return merged


def segments(
    base: Query, sort: Sort, cursor: Cursor | None, now: datetime | None = None
) -> list[Segment]:
    """The reads that make the page after ``cursor`` (the first page if ``None``), in order.

    With ``now``, a newest-first read on a time key goes back in windows (see ``_windows``).
    """
    key, d = sort.key, sort.direction
    lowest = SORT_KEYS[key]
    by_id: SortSpec = [("_id", d)]
    past = "$gt" if d == 1 else "$lt"
    valued = Segment(_and(base, {key: {"$gte": lowest}}), sort.spec)
    unvalued = Segment(_and(base, {key: None}), by_id)
    windowed = now is not None and d == -1 and isinstance(lowest, datetime) and _walks(base, key)
    if cursor is None:
        if d == 1:
            return [unvalued, valued]
        return [*(_windows(valued, key, now) if windowed and now else [valued]), unvalued]
    tie_cond: Query = {key: cursor.value, "_id": {past: cursor.id}}
    ties = Segment(_and(base, tie_cond), by_id)
    if cursor.value is None:
        return [ties, valued] if d == 1 else [ties]
    beyond = Segment(_and(base, {key: {past: cursor.value}}), sort.spec)
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
        parts.append(Segment(_and(segment.query, {key: window}), segment.sort))
        upper = lower
    rest = (
        segment
        if upper is None
        else Segment(_and(segment.query, {key: {"$lt": upper}}), segment.sort)
    )
    return [*parts, rest]


# --- workers, dashboard, sync, history ----------------------------------------------------


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


def worker_by_id(worker_id: str) -> Query:
    """The seed's ids are the worker's uuid; a hostname is accepted as well."""
    return {"$or": [{"id": worker_id}, {"_id": worker_id}]}


def online_workers(now: datetime) -> Query:
    return {**online_condition(True, now), **LIVE}


def task_state_counts() -> list[Query]:
    return [{"$match": LIVE}, {"$group": {"_id": "$state", "n": {"$sum": 1}}}]


def worker_totals(now: datetime) -> list[Query]:
    """One row per online/offline group, with its worker count and task totals."""
    return [
        {"$match": LIVE},
        {
            "$group": {
                "_id": {"$gt": ["$alive_until", now]},
                "n": {"$sum": 1},
                "active": {"$sum": "$active"},
                "processed": {"$sum": "$processed"},
            }
        },
    ]


def unfinished_tasks() -> Query:
    """Tasks ``sync`` should look up: not SUCCESS, FAILURE or REVOKED."""
    return {"state": {"$in": list(UNFINISHED)}, **LIVE}


class EventFilters(Page):
    type: Text | None = None
    """An event type (``tasktrail.command.completed``), or a prefix ending in ``*``
    (``tasktrail.command.*``, ``celery.task.*``)."""
    actor: Text | None = None
    uuid: Text | None = None
    after: AwareDatetime | None = None
    before: AwareDatetime | None = None

    @field_validator("type")
    @classmethod
    def _type_shape(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_.-]+\*?", value):
            raise ValueError("letters, digits, '.', '_', '-', optionally ending in '*'")
        return value

    @field_validator("after", "before")
    @classmethod
    def _in_range(cls, value: datetime | None) -> datetime | None:
        return bounded(value)


def _type_condition(wanted: str) -> Any:
    if wanted.endswith("*"):
        prefix = wanted[:-1]
        return {"$gte": prefix, "$lt": prefix + "\U0010ffff"}
    return wanted


def event_queries(filters: EventFilters, uuid: str | None = None) -> tuple[Query, Query]:
    """The ``task_events`` query (one document per stream message, with its ``events``
    entries) and the condition each unwound entry must meet (as ``events.<field>``)."""
    uuid = uuid if uuid is not None else filters.uuid
    message: Query = {}
    entry: Query = {}
    if uuid is not None:
        message["uuids"] = uuid
        entry["events.uuid"] = uuid
    if filters.type is not None:
        message["events.type"] = entry["events.type"] = _type_condition(filters.type)
    if filters.actor is not None:
        message["events.event.actor"] = entry["events.event.actor"] = filters.actor
    cond = _time_range(filters.after, filters.before)
    if cond is not None:
        entry["events.timestamp"] = cond
        # A message's ``timestamp`` is its earliest entry's: only the lower bound is exact.
        if filters.before is not None:
            message["timestamp"] = {"$lt": filters.before}
    return message, entry


def history_pipeline(
    message: Query, entry: Query, direction: int, skip: int, limit: int
) -> list[Query]:
    """Entries in message order (``timestamp``, ``_id``), then their order in the message."""
    return [
        {"$match": message},
        {"$sort": {"timestamp": direction, "_id": direction}},
        {"$unwind": "$events"},
        {"$match": entry},
        {"$skip": skip},
        {"$limit": limit},
    ]


def history_count(message: Query, entry: Query) -> list[Query]:
    return [{"$match": message}, {"$unwind": "$events"}, {"$match": entry}, {"$count": "n"}]


def entry_matches(entry: Mapping[str, Any], conditions: Query) -> bool:
    """``conditions`` (from :func:`event_queries`) applied to one entry, for the export."""
    for path, cond in conditions.items():
        value: Any = entry
        for step in path.split(".")[1:]:
            value = value.get(step) if isinstance(value, Mapping) else None
        if isinstance(cond, dict):
            for op, bound in cond.items():
                if value is None or type(value) is not type(bound):
                    return False
                if not _compare(op, value, bound):
                    return False
        elif value != cond:
            return False
    return True


def _compare(op: str, value: Any, bound: Any) -> bool:
    if op == "$gte":
        return bool(value >= bound)
    if op == "$gt":
        return bool(value > bound)
    if op == "$lt":
        return bool(value < bound)
    return bool(value <= bound)


EVENT_SORT: SortSpec = [("timestamp", 1), ("_id", 1)]


def events_after(base: Query, last: Mapping[str, Any]) -> list[Segment]:
    """The export's next chunk of messages after ``last``: its ties, then everything later."""
    at = last.get("timestamp")
    ties = Segment(_and(base, {"timestamp": at, "_id": {"$gt": last["_id"]}}), [("_id", 1)])
    return [ties, Segment(_and(base, {"timestamp": {"$gt": at}}), EVENT_SORT)]
