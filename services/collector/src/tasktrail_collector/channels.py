"""Where kombu publishes Celery events on Redis, and how to read a routing key back.

kombu's Redis transport publishes fanout messages on ``/<db>.<exchange>/<routing key>``
(``fanout_prefix`` and ``fanout_patterns``, both on in Celery 5), so one pattern
subscription sees every event of one database.
"""

from __future__ import annotations

EVENT_EXCHANGE = "celeryev"


def event_pattern(db: int, exchange: str = EVENT_EXCHANGE, keyprefix: str = "") -> str:
    return f"{keyprefix}/{db}.{exchange}/*"


def routing_key(channel: str) -> str | None:
    """``/0.celeryev/task.multi`` -> ``task.multi``; ``None`` if the channel has no key."""
    _, sep, key = channel.rpartition("/")
    if not sep or not key or "." not in channel[: len(channel) - len(key)]:
        return None
    return key
