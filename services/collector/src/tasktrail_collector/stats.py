"""Counters the collector exposes on its health endpoints and logs."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Counters:
    received: int = 0
    """Broker messages taken in."""
    published: int = 0
    """Event messages JetStream stored."""
    duplicates: int = 0
    """Event messages JetStream already had (another replica, a retry): dropped by Msg-Id."""
    dead_lettered: int = 0
    """Messages that are not Celery events, sent to ``tasktrail.deadletter.<app>``."""
    retried: int = 0
    """Publishes sent again after a timeout, an error or a lost connection."""

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
