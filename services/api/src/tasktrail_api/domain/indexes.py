"""The indexes behind every list shape the API serves (see :mod:`tasktrail_api.domain.shapes`).
The API owns its query shapes, so it creates these at start-up; the projector creates the
ones its own writes need.

Each task index is ``deleted`` (every query pins it), then ``app`` (every read is per
cluster), then the equalities of one shape, then the time the shape's reads range over, then
``_id`` (the tie-break of every sort): a read "equalities, then one range" walks one index,
on MongoDB and on SecantusDB alike. Every index costs each write of a task, so there is one
per served shape and no more.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tasktrail_shared.catalog import CATALOG_ID_LABEL
from tasktrail_shared.fields import SEED_LABELS, label_index

from tasktrail_api.domain.shapes import TIME_KEYS, WITH_STATUS, WITHOUT_STATUS

IndexSpecs = dict[str, dict[str, Any]]


def _live(*keys: str) -> dict[str, Any]:
    """``deleted`` first: every query pins it by equality, then filters, then sorts (ESR)."""
    return {"keys": [("deleted", 1), *((k, 1) for k in keys)]}


def label_indexes(names: Iterable[str]) -> IndexSpecs:
    """The walk of one label, newest first (``tasktrail_shared.fields.label_index``)."""
    return {label_index(n)[0]: {"keys": label_index(n)[1]} for n in names}


def indexed_labels(index_names: Iterable[str]) -> frozenset[str]:
    """The labels a list may filter on, from the names of the task indexes that exist."""
    return frozenset(
        name.removeprefix("live_label_") for name in index_names if name.startswith("live_label_")
    )


def obsolete(held: Mapping[str, Sequence[tuple[str, Any]]], specs: IndexSpecs) -> list[str]:
    """The API's indexes (named ``live_*``) that ``held`` has but ``specs`` do not, or has
    with other keys (an earlier release's shapes): each costs every write and serves no
    read, or blocks the new one of its name. A label index the projector made for a
    configured label is not the API's and stays."""
    return sorted(
        name
        for name, keys in held.items()
        if name.startswith("live_")
        and not (name.startswith("live_label_") and name not in specs)
        and (name not in specs or [tuple(k) for k in keys] != list(specs[name]["keys"]))
    )


TASK_INDEXES: IndexSpecs = {
    **{f"live_app_state_{k}": _live("app", "state", k, "_id") for k in TIME_KEYS},
    **{f"live_app_{f}_ts": _live("app", f, "timestamp", "_id") for f in WITHOUT_STATUS},
    **{f"live_app_{f}_state_ts": _live("app", f, "state", "timestamp", "_id") for f in WITH_STATUS},
    **label_indexes(SEED_LABELS),
    "live_uuid": _live("uuid"),
    "live_catalog_runs": _live(f"labels.{CATALOG_ID_LABEL}", "state"),
}
"""After ``deleted``: per cluster, status then each time (no filter or status; any time
sort: a list without status reads every state's part, see ``plan.branches``); name, worker
and queue with status and ``timestamp`` (the same, with or without status); each other
filter with ``timestamp``; one task by ``uuid`` (it equals ``_id``, but a query on ``_id``
plus ``deleted`` is a collection scan on SecantusDB, so it has an index of its own); the
catalog's runs of one entry, by state (one run at a time, clearing finished runs).

No index serves a time without status, nor name, worker or queue without status: a list
that names no status reads the eight states' parts of the index with status and merges
them (eight index probes per window instead of one): measured 40-90 % more per read of
those lists, still bounded by the windows, and seven index entries fewer on every task
write, about a quarter of its cost on SecantusDB (decision 22)."""
WORKER_INDEXES: IndexSpecs = {
    "live_hostname": _live("hostname"),
    "live_alive_until": _live("alive_until", "_id"),
}
CATALOG_INDEXES: IndexSpecs = {"live_name": _live("name", "_id")}
"""The catalog list, by name."""
EVENT_INDEXES: IndexSpecs = {
    "audit_time": {"keys": [("timestamp", 1), ("_id", 1)]},
    "audit_type": {"keys": [("events.type", 1), ("timestamp", 1)]},
    "audit_actor": {"keys": [("events.event.actor", 1), ("timestamp", 1)]},
}
"""``task_events`` indexes for ``/monitor/events`` (the projector's ``(uuids, timestamp)``
serves one task's history)."""
