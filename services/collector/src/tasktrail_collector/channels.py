"""Where kombu publishes Celery events on Redis.

kombu's Redis transport publishes fanout messages on ``/<db>.<exchange>/<routing key>``
(``fanout_prefix`` and ``fanout_patterns``, both on in Celery 5), so one pattern
subscription sees every event of one database; the routing key is what follows the last
``/`` of a channel.
"""

from __future__ import annotations

EVENT_EXCHANGE = "celeryev"


def event_pattern(db: int) -> str:
    return f"/{db}.{EVENT_EXCHANGE}/*"
