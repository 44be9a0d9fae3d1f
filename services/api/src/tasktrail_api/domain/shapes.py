"""Which task lists are served, and how: a list request classified into a :class:`Selection`.

A list is served in time that does not grow with the history only when each read it makes
is an index range that holds about what the page needs. So every list is one of three
shapes (``docs/api.md``, "List shapes", has the table):

* **walk**: sorted by a time (``timestamp``, ``received``, ``started``, ``succeeded``), read
  newest (or oldest) first in time windows on an index that ends with that time: no filter,
  or status (one or several); or ``timestamp`` with one other filter (name, worker, queue,
  parent_id, root_id, published or one label), which name, worker and queue also combine
  with status.
* **window set**: sorted by ``runtime`` or ``name``, within one time range; the range is
  read as a walk (so the filters above apply to the range's time) and sorted here, up to
  :data:`SET_CAP` tasks.
* **text search** (``q``): a window set whatever the sort: no index holds the text, so it
  is matched here, within name, args, kwargs and result, among the tasks of one time range
  (up to :data:`SET_CAP`).
* **narrow set**: ``uuid``, or ``parent_id`` / ``root_id`` in a shape no walk serves: the
  one task, or the workflow's tasks (up to :data:`SET_CAP`), filtered and sorted here.

Anything else is refused with a 400 that says what is served. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tasktrail_shared.fields import SEED_LABELS

from tasktrail_api.domain.errors import BadRequest
from tasktrail_api.domain.filters import TIME_FILTERS, TaskFilters

TIME_KEYS = ("timestamp", "received", "started", "succeeded")
"""Sorts a walk serves."""
VALUE_KEYS = ("runtime", "name")
"""Sorts served within a time range (a window set)."""
PRIMARY = ("name", "worker", "queue", "parent_id", "root_id", "published")
"""Filters a walk serves sorted by ``timestamp`` (with a label, ``labels.<name>``)."""
LABEL_FIELD = "labels."
"""The prefix of a label's field on a task document: ``labels.cidr_id``."""
WITH_STATUS = ("name", "worker", "queue")
"""Primary filters a walk also serves together with status."""
WITHOUT_STATUS = tuple(f for f in PRIMARY if f not in WITH_STATUS)
"""Primary filters read from an index of their own (``live_app_<filter>_ts``); the others
are read from their index with status, one part per state when the list names none."""
WORKFLOW = ("parent_id", "root_id")
"""Primary filters that fall back to a narrow set where no walk serves the shape."""
SEARCHED = ("name", "args", "kwargs", "result")
"""The task fields free text (``q``) is looked for in."""
SET_CAP = 10_000
"""Most tasks a set-served list sorts; a larger set is refused (400)."""
COUNT_BOUND = 1000
"""How far a list the counters cannot total is counted by default
(``TASKTRAIL_API_COUNT_BOUND``)."""
SERVED = (
    "served: sort=[-]timestamp|received|started|succeeded with no filter or with status "
    "(one or several); sort=[-]timestamp with one of name, worker, queue (each also with "
    "status), parent_id, root_id, published or one label; a time range only on the sort's "
    "own time; sort=[-]runtime|name within one time range (at most 10000 tasks) under the "
    "same filters; q (free text) within one time range (at most 10000 tasks) under any of "
    "those; uuid, parent_id or root_id (at most 10000 tasks) with anything "
    "(see 'List shapes' in docs/api.md)"
)


@dataclass(frozen=True, slots=True)
class TimeRange:
    field: str
    after: datetime | None
    """Inclusive."""
    before: datetime | None
    """Exclusive."""


@dataclass(frozen=True, slots=True)
class Order:
    key: str
    direction: int
    """1 ascending, -1 descending; ``_id`` breaks ties in the same direction."""

    @classmethod
    def parse(cls, param: str) -> Order:
        key = param.removeprefix("-")
        if key not in (*TIME_KEYS, *VALUE_KEYS):
            raise BadRequest.field("sort", f"cannot sort by {param!r}")
        return cls(key, -1 if param.startswith("-") else 1)

    @property
    def spec(self) -> list[tuple[str, int]]:
        return [(self.key, self.direction), ("_id", self.direction)]


@dataclass(frozen=True, slots=True)
class Selection:
    """A list request, classified: which tasks, in which order, read how."""

    apps: tuple[str, ...]
    """The clusters read (the caller's scope, narrowed by ``app``)."""
    states: tuple[str, ...] | None
    primary: tuple[str, tuple[Any, ...]] | None
    """The one filter besides status a walk reads by: its field and accepted values."""
    time: TimeRange | None
    order: Order
    narrow: tuple[str, str] | None = None
    """``(field, value)`` when served as a narrow set (every other filter applies to it)."""
    others: tuple[tuple[str, tuple[Any, ...]], ...] = ()
    """More equality filters, only ever with ``narrow``."""
    text: str | None = None
    """Free text (case-folded) to find within :data:`SEARCHED`; the list is then a set."""

    @property
    def walk_key(self) -> str:
        """The time the reads range over: the sort's, or the range's for a window set."""
        if self.order.key in TIME_KEYS:
            return self.order.key
        return self.time.field if self.time is not None else "timestamp"

    @property
    def is_window_set(self) -> bool:
        return self.narrow is None and (self.order.key in VALUE_KEYS or self.text is not None)

    def finds(self, row: Mapping[str, Any]) -> bool:
        """Whether the row holds the free text (always, without one)."""
        if self.text is None:
            return True
        return any(
            self.text in str(value).casefold()
            for name in SEARCHED
            if (value := row.get(name)) is not None
        )


def label_values(raw: str) -> tuple[Any, ...]:
    """Labels keep their type (``asn_number`` is a number); a query string has none, so a
    numeric text matches the number and the text."""
    if re.fullmatch(r"-?\d{1,18}", raw):
        return (int(raw), raw)
    return (raw,)


def equalities(
    filters: TaskFilters, labels: Mapping[str, str]
) -> list[tuple[str, tuple[Any, ...]]]:
    """Every equality filter but status, ``uuid`` and ``app``, as ``(field, values)``."""
    found: list[tuple[str, tuple[Any, ...]]] = [
        (f, (v,)) for f in PRIMARY[:5] if (v := getattr(filters, f)) is not None
    ]
    if filters.published is not None:
        found.append(("published", (filters.published,)))
    wanted = {n: getattr(filters, n) for n in SEED_LABELS if getattr(filters, n)}
    wanted.update(labels)
    found += [(f"{LABEL_FIELD}{name}", label_values(v)) for name, v in sorted(wanted.items())]
    return found


def time_range(filters: TaskFilters) -> TimeRange | None:
    ranges = [
        TimeRange(f, *filters.time_range(f))
        for f in TIME_FILTERS
        if filters.time_range(f) != (None, None)
    ]
    if len(ranges) > 1:
        raise refused(f"one time range at most ({', '.join(r.field for r in ranges)} given)")
    return ranges[0] if ranges else None


def refused(reason: str) -> BadRequest:
    return BadRequest(f"unsupported list shape: {reason}; {SERVED}")


def select(
    filters: TaskFilters,
    labels: Mapping[str, str],
    apps: Sequence[str],
    indexed: Collection[str] = SEED_LABELS,
) -> Selection:
    """Classify a list request over the clusters ``apps``; BadRequest if no shape serves it.

    ``indexed``: the labels a walk can filter on (the ones with an index)."""
    order = Order.parse(filters.sort)
    read = tuple(a for a in apps if filters.app is None or a == filters.app)
    states = tuple(filters.status.split(",")) if filters.status is not None else None
    found = equalities(filters, labels)
    time = time_range(filters)
    text = filters.q.casefold() if filters.q is not None else None
    if filters.uuid is not None:
        narrow = ("uuid", filters.uuid)
        return Selection(read, states, None, time, order, narrow, tuple(found), text)
    walk = Selection(read, states, found[0] if found else None, time, order, text=text)
    problem = _walk_problem(walk, found, indexed)
    if problem is None:
        return walk
    workflow = next(((f, v) for f, v in found if f in WORKFLOW), None)
    if workflow is None:
        raise refused(problem)
    rest = tuple(e for e in found if e != workflow)
    return Selection(read, states, None, time, order, (workflow[0], workflow[1][0]), rest, text)


def _walk_problem(
    walk: Selection, found: Sequence[tuple[str, tuple[Any, ...]]], indexed: Collection[str]
) -> str | None:
    """Why no walk serves ``walk`` (``None``: one does)."""
    order, time = walk.order, walk.time
    if len(found) > 1:
        return f"one filter besides status at most ({', '.join(f for f, _ in found)} given)"
    if order.key in VALUE_KEYS and time is None:
        return f"sort={order.key} needs a time range (e.g. timestamp_after)"
    if walk.text is not None and time is None:
        return "q (free text) needs a time range (e.g. timestamp_after): no index holds text"
    if order.key in TIME_KEYS and time is not None and time.field != order.key:
        return f"a time range on {time.field} with sort={order.key}"
    if walk.primary is None:
        return None
    field = walk.primary[0]
    if field.startswith(LABEL_FIELD) and field.removeprefix(LABEL_FIELD) not in indexed:
        label = field.removeprefix(LABEL_FIELD)
        return (
            f"label.{label} has no index (the projector indexes the labels it is configured with)"
        )
    if walk.walk_key != "timestamp":
        return f"{field} is read by timestamp (its sort or time range), not by {walk.walk_key}"
    if walk.states is not None and field not in WITH_STATUS:
        return f"{field} with status"
    return None
