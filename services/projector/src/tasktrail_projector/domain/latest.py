"""The newest Celery event of each type, as a task or worker document keeps it.

A document stores, per event type, only the newest event by :meth:`Observed.key` (in
``_events``) and where it came from (in ``_src``), so that a later event, or a copy replayed
in another order, is folded in with the same result. Callers import the module and name
its functions through it (``latest.load(doc)``, ``latest.fold(...)``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tasktrail_projector.domain.events import Observed


def newest(candidates: Iterable[Observed | None]) -> Observed | None:
    """The newest of the given events by :meth:`Observed.key`, ignoring ``None``."""
    present = [c for c in candidates if c is not None]
    return max(present, key=Observed.key) if present else None


def load(doc: Mapping[str, Any] | None) -> dict[str, Observed]:
    """The per-type newest events kept in a stored document's ``_events`` and ``_src``."""
    if not doc:
        return {}
    events = doc.get("_events") or {}
    sources = doc.get("_src") or {}
    return {
        kind: Observed.stored(event, sources.get(kind) or {})
        for kind, event in events.items()
        if isinstance(event, Mapping)
    }


def fold(current: dict[str, Observed], incoming: Iterable[Observed]) -> bool:
    """Keep the newest event per type in ``current``; True if anything was replaced."""
    changed = False
    for observed in incoming:
        held = current.get(observed.type)
        if held is None or observed.key() > held.key():
            current[observed.type] = observed
            changed = True
    return changed


def dump(current: Mapping[str, Observed]) -> dict[str, dict[str, Any]]:
    """``_events`` and ``_src`` for a document, keys sorted for stable documents."""
    kinds = sorted(current)
    return {
        "_events": {kind: current[kind].event for kind in kinds},
        "_src": {kind: current[kind].source() for kind in kinds},
    }
