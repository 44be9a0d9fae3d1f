"""The indexes behind every filter and sort the API offers. The API owns its query shapes, so
it creates these at start-up; the projector creates the ones its own writes need."""

from __future__ import annotations

from typing import Any

from tasktrail_shared.catalog import CATALOG_ID_LABEL
from tasktrail_shared.fields import SEED_LABELS

from tasktrail_api.domain.filters import EQUAL_FILTERS
from tasktrail_api.domain.plan import SORT_KEYS

IndexSpecs = dict[str, dict[str, Any]]


def _live(*keys: str) -> dict[str, Any]:
    """``deleted`` first: every query pins it by equality, then filters, then sorts (ESR)."""
    return {"keys": [("deleted", 1), *((k, 1) for k in keys)]}


TASK_INDEXES: IndexSpecs = {
    **{f"live_{k}": _live(k, "_id") for k in (*SORT_KEYS, "sent")},
    **{f"live_{f}_ts": _live(f, "timestamp", "_id") for f in ("state", *EQUAL_FILTERS[1:])},
    "live_uuid": _live("uuid"),
    **{f"live_label_{n}": _live(f"labels.{n}", "timestamp", "_id") for n in SEED_LABELS},
    "live_catalog_runs": _live(f"labels.{CATALOG_ID_LABEL}", "state"),
}
"""After ``deleted``: one per sort key with ``_id`` as tie-break, one per equality filter
followed by the default sort. ``uuid`` equals ``_id``, but a query on ``_id`` plus
``deleted`` is a collection scan on SecantusDB, so it has an index of its own. The catalog's
runs of one entry, by state (one run at a time, clearing finished runs)."""
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
