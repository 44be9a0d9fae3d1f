"""The audit history (``task_events``) as MongoDB queries: one document per stream message,
its ``events`` entries unwound and filtered by type, actor, task and time."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tasktrail_api.domain.filters import EventFilters
from tasktrail_api.domain.plan import Query, Segment, SortSpec, and_query, time_range
from tasktrail_api.domain.scope import Scope

EVENT_SORT: SortSpec = [("timestamp", 1), ("_id", 1)]
"""Messages in the order their entries happened; ``_id`` breaks ties."""


def _type_condition(wanted: str) -> Any:
    if wanted.endswith("*"):
        prefix = wanted[:-1]
        return {"$gte": prefix, "$lt": prefix + "\U0010ffff"}
    return wanted


def scope_condition(scope: Scope) -> Query:
    """The ``task_events`` messages ``scope`` sees: those of its clusters, and the token and
    organisation changes of its own organisation (``app: null``, ``org``: see the
    projector's history). A root token sees every message."""
    if scope.org is None:
        return {}
    own = {"app": None, "org": scope.org}
    if scope.apps is not None:
        clusters: Query = {"app": {"$in": sorted(scope.apps)}}
    else:
        clusters = {"app": {"$nin": [*sorted(scope.excluded), None]}}
    return {"$or": [clusters, own]}


def event_queries(
    filters: EventFilters, scope: Scope, uuid: str | None = None
) -> tuple[Query, Query]:
    """The ``task_events`` query (one document per stream message, with its ``events``
    entries) and the condition each unwound entry must meet (as ``events.<field>``)."""
    uuid = uuid if uuid is not None else filters.uuid
    message: Query = scope_condition(scope)
    entry: Query = {}
    if uuid is not None:
        message["uuids"] = uuid
        entry["events.uuid"] = uuid
    if filters.type is not None:
        message["events.type"] = entry["events.type"] = _type_condition(filters.type)
    if filters.actor is not None:
        message["events.event.actor"] = entry["events.event.actor"] = filters.actor
    cond = time_range(filters.after, filters.before)
    if cond is not None:
        entry["events.timestamp"] = cond
        # A message's ``timestamp`` is its earliest entry's, so only ``before`` can narrow
        # the messages: an entry after ``after`` may share a message with earlier ones.
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


def events_after(base: Query, last: Mapping[str, Any]) -> list[Segment]:
    """The export's next chunk of messages after ``last``: its ties, then everything later."""
    at = last.get("timestamp")
    ties = Segment(and_query(base, {"timestamp": at, "_id": {"$gt": last["_id"]}}), [("_id", 1)])
    return [ties, Segment(and_query(base, {"timestamp": {"$gt": at}}), EVENT_SORT)]


# --- one task's history in log order (seed 003's TaskEvents) ---------------------------------

LOG_TOKEN = re.compile(r"^(\d{1,19})\.(\d{1,9})$")


@dataclass(frozen=True, slots=True, order=True)
class LogPosition:
    """Where an entry is in the log: its message's stream sequence, then its index in the
    message. Entries are written in this order, so whatever is recorded after an entry has a
    higher position: an update token is the position of the last entry a caller has seen."""

    seq: int
    index: int

    @property
    def token(self) -> str:
        return f"{self.seq}.{self.index}"

    @classmethod
    def parse(cls, token: str) -> LogPosition:
        """ValueError unless ``token`` is one :attr:`token` made."""
        found = LOG_TOKEN.fullmatch(token)
        if found is None:
            raise ValueError("not an update token this API gave")
        return cls(int(found[1]), int(found[2]))

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> LogPosition:
        """The position of an unwound history row (``events`` is the entry)."""
        entry = row.get("events")
        index = entry.get("index", 0) if isinstance(entry, Mapping) else 0
        return cls(int(row.get("seq") or 0), int(index or 0))


START = LogPosition(0, 0)
"""Before every entry (stream sequences start at 1)."""


def log_queries(uuid: str, after: LogPosition | None) -> tuple[Query, Query]:
    """The ``task_events`` query and the entry condition of one task's entries after
    ``after`` (all of them for ``None``)."""
    message: Query = {"uuids": uuid}
    entry: Query = {"events.uuid": uuid}
    if after is not None:
        message["seq"] = {"$gte": after.seq}
        entry["$or"] = [{"seq": {"$gt": after.seq}}, {"events.index": {"$gt": after.index}}]
    return message, entry


def log_pipeline(message: Query, entry: Query, direction: int, limit: int) -> list[Query]:
    """Entries in log order (``seq``, then the index in the message), ``direction`` 1 from
    the oldest, -1 from the newest; ``limit`` of them."""
    return [
        {"$match": message},
        {"$unwind": "$events"},
        {"$match": entry},
        {"$sort": {"seq": direction, "events.index": direction}},
        {"$limit": limit},
    ]
