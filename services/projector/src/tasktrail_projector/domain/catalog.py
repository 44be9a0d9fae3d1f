"""The ``catalog`` read model: one entry per task name of a cluster, found by discovery and
described by admins.

Discovery: a task name is catalogued once it is seen in a task-sent or task-received event,
or in a worker's answer to ``inspect registered`` (control's ``refresh``), Celery's own
``celery.*`` tasks excepted. An admin's ``tasktrail.catalog.amended`` sets fields of the
entry (latest amendment per field wins, ``null`` returns a field to its default) and may
create it; ``tasktrail.catalog.deleted`` hides it until a later amendment (a recipe import)
brings it back. Discovery never undeletes: the task may well still run, and an admin removed
it from the catalog on purpose.

The document keeps, per way of knowing the entry (``events``, ``registered``, ``defined``),
the earliest time it was known that way (``_seen``), the latest delete (``_records``) and
the latest amendment per field (``_amend``): minimum, latest and union are order-free, so
any order and any duplication of events give the same document, and a batch that brings
nothing earlier or newer changes nothing (no write).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tasktrail_shared.catalog import DEFINABLE, entry_id, is_catalogued, registered_name

from tasktrail_projector.domain.events import Observed, to_datetime
from tasktrail_projector.domain.own_events import (
    AMENDED,
    DELETED,
    INSPECTED,
    Amendment,
    OwnFacts,
    Record,
)

EVENTS, REGISTERED, DEFINED = "events", "registered", "defined"
"""How an entry came to be known: a task event named it, a worker registers it, an admin
defined it."""
NAMING_EVENTS = frozenset({"task-sent", "task-received"})
"""The Celery events that carry a task's name."""
TARGET = "catalog"


@dataclass(slots=True)
class CatalogChange:
    """What one batch brings to one entry."""

    app: str
    name: str
    seen: dict[str, float] = field(default_factory=dict)
    """How it was known in this batch -> the earliest time (epoch seconds)."""
    records: list[Record] = field(default_factory=list)

    def saw(self, how: str, at: float) -> None:
        if how not in self.seen or at < self.seen[how]:
            self.seen[how] = at


def group(observed: Iterable[Observed], records: Iterable[Record] = ()) -> dict[str, CatalogChange]:
    """The entries a batch touches, by id."""
    changes: dict[str, CatalogChange] = {}

    def change(app: str, name: str) -> CatalogChange:
        return changes.setdefault(entry_id(app, name), CatalogChange(app, name))

    for item in observed:
        name = item.event.get("name")
        if item.type in NAMING_EVENTS and is_catalogued(name):
            change(item.app, str(name)).saw(EVENTS, item.received)
    for record in records:
        if record.target == "worker" and record.kind == INSPECTED:
            for registered in _registered(record):
                change(record.app, registered).saw(REGISTERED, record.at)
        elif record.target == TARGET and record.kind in (AMENDED, DELETED):
            entry = change(str(record.data["app"]), str(record.data["name"]))
            entry.records.append(record)
            if record.kind == AMENDED:
                entry.saw(DEFINED, record.at)
    return changes


def _registered(record: Record) -> list[str]:
    """The catalogued task names a worker's inspection reports."""
    names = [registered_name(item) for item in record.data.get("registered") or []]
    return [name for name in names if name is not None and is_catalogued(name)]


def merge(
    doc: Mapping[str, Any] | None, entry: str, change: CatalogChange
) -> dict[str, Any] | None:
    """The new document of ``entry``, or ``None`` if ``change`` adds nothing to ``doc``."""
    held = doc or {}
    seen = {str(k): float(v) for k, v in (held.get("_seen") or {}).items()}
    own = OwnFacts.load(doc, TARGET)
    changed = _fold_seen(seen, change.seen)
    changed |= own.fold(change.records)
    if not changed and doc is not None:
        return None
    return render(entry, change.app, change.name, seen, own)


def _fold_seen(current: dict[str, float], incoming: Mapping[str, float]) -> bool:
    changed = False
    for how, at in incoming.items():
        if how not in current or at < current[how]:
            current[how] = at
            changed = True
    return changed


def render(
    entry: str,
    app: str,
    name: str,
    seen: Mapping[str, float],
    own: OwnFacts,
) -> dict[str, Any]:
    """Derive the whole entry from what it keeps."""
    amendments = own.amendments
    return {
        "_id": entry,
        "id": entry,
        "app": app,
        "name": name,
        **{key: (amendments[key]["value"] if key in amendments else None) for key in DEFINABLE},
        "discovered_by": sorted(how for how in seen if how != DEFINED),
        "first_seen": to_datetime(min(seen.values())) if seen else None,
        "deleted": _deleted(own.records, amendments),
        "_seen": dict(sorted(seen.items())),
        **own.stored(),
    }


def _deleted(records: Mapping[str, Record], amendments: Mapping[str, Amendment]) -> bool:
    """Deleted unless an amendment came after the latest delete."""
    deleted = records.get(DELETED)
    if deleted is None:
        return False
    return all((a["at"], a["id"]) < deleted.key() for a in amendments.values())
