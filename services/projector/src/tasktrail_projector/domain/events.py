"""A Celery event as the projector sees it: the event plus what orders and locates it.

Every read-model field is chosen by "the latest event", so the order must be total and must
not depend on arrival: ``(timestamp, clock, envelope id, index in message)``. Copies of one
event re-published after the duplicate window tie on that key; the copy the collector saw
first (smallest ``received``) wins, so the result still depends only on the set.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
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
