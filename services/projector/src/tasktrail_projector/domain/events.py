"""A Celery event as the projector sees it: the event plus what orders and locates it.

Every read-model field is chosen by "the latest event", so the order must be total and must
not depend on arrival: ``(timestamp, clock, envelope id, index in message)``. Copies of one
event re-published after the duplicate window tie on that key; the copy the collector saw
first (smallest ``received``) wins, so the result still depends only on the set.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Event = dict[str, Any]
OrderKey = tuple[float, float, str, int, float]


def to_datetime(epoch: float) -> datetime:
    """UTC datetime cut to milliseconds, BSON's precision, so a stored doc equals a fresh one."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _number(value: object) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return 0.0


@dataclass(frozen=True, slots=True)
class Observed:
    """One decoded Celery event with its place in the log."""

    event: Event
    envelope_id: str
    index: int
    app: str
    received: float

    @property
    def type(self) -> str:
        return str(self.event["type"])

    @property
    def hostname(self) -> str:
        return str(self.event["hostname"])

    @property
    def timestamp(self) -> float:
        return _number(self.event.get("timestamp"))

    def key(self) -> OrderKey:
        return (
            self.timestamp,
            _number(self.event.get("clock")),
            self.envelope_id,
            self.index,
            -self.received,
        )

    def source(self) -> dict[str, Any]:
        """Where the event came from, stored beside it in ``_src`` so it can be re-ordered."""
        return {
            "id": self.envelope_id,
            "index": self.index,
            "app": self.app,
            "received": self.received,
        }

    @classmethod
    def stored(cls, event: Mapping[str, Any], source: Mapping[str, Any]) -> Observed:
        return cls(
            event=dict(event),
            envelope_id=str(source.get("id", "")),
            index=int(source.get("index", 0)),
            app=str(source.get("app", "")),
            received=_number(source.get("received")),
        )


def latest(candidates: Iterable[Observed | None]) -> Observed | None:
    """The latest of the given events by :meth:`Observed.key`, ignoring ``None``."""
    present = [c for c in candidates if c is not None]
    return max(present, key=Observed.key) if present else None


def load_latest(doc: Mapping[str, Any] | None) -> dict[str, Observed]:
    """The per-type latest events kept in a stored document's ``_events`` and ``_src``."""
    if not doc:
        return {}
    events = doc.get("_events") or {}
    sources = doc.get("_src") or {}
    return {
        kind: Observed.stored(event, sources.get(kind) or {})
        for kind, event in events.items()
        if isinstance(event, Mapping)
    }


def fold_latest(current: dict[str, Observed], incoming: Iterable[Observed]) -> bool:
    """Keep the latest event per type in ``current``; True if anything was replaced."""
    changed = False
    for observed in incoming:
        held = current.get(observed.type)
        if held is None or observed.key() > held.key():
            current[observed.type] = observed
            changed = True
    return changed


def dump_latest(current: Mapping[str, Observed]) -> dict[str, dict[str, Any]]:
    """``_events`` and ``_src`` for a document, keys sorted for stable documents."""
    kinds = sorted(current)
    return {
        "_events": {kind: current[kind].event for kind in kinds},
        "_src": {kind: current[kind].source() for kind in kinds},
    }
