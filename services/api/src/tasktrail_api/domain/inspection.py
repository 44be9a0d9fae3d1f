"""What a worker's latest inspection says about it, for its page: the pool, the queues it
consumes, the tasks it has registered. Pure.

The projector keeps the answers of the latest inspection that reached the worker
(``inspected``: Celery's ``stats``, ``active_queues`` and ``registered`` replies, as the
worker sent them, and when). Heartbeats carry none of this, so a worker never inspected
(control's ``refresh``) has no profile yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tasktrail_api.domain.serializers import plain


@dataclass(frozen=True, slots=True)
class Profile:
    at: Any
    """When the inspection was answered (ISO 8601 UTC)."""
    pool: str | None
    """The pool's implementation, shortened (``prefork`` for
    ``celery.concurrency.prefork:TaskPool``)."""
    processes: list[Any]
    """The pool's processes (pids) or threads, as the worker lists them."""
    max_concurrency: int | None
    prefetch_count: int | None
    queues: list[str]
    registered: list[str]


def _pool_name(implementation: Any) -> str | None:
    if not isinstance(implementation, str) or not implementation:
        return None
    module = implementation.split(":", 1)[0]
    return module.rsplit(".", 1)[-1] or implementation


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _listed(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else []


def profile(inspected: Mapping[str, Any] | None) -> Profile | None:
    """The worker's profile from its latest answered inspection; ``None`` if it has none."""
    if not isinstance(inspected, Mapping) or not isinstance(inspected.get("stats"), Mapping):
        return None
    stats: Mapping[str, Any] = inspected["stats"]
    found = stats.get("pool")
    pool: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    queues = [
        str(q["name"])
        for q in _listed(inspected.get("active_queues"))
        if isinstance(q, Mapping) and q.get("name")
    ]
    registered = [str(name) for name in _listed(inspected.get("registered"))]
    return Profile(
        at=plain(inspected.get("at")),
        pool=_pool_name(pool.get("implementation")),
        processes=_listed(pool.get("processes") or pool.get("threads")),
        max_concurrency=_number(pool.get("max-concurrency")),
        prefetch_count=_number(stats.get("prefetch_count")),
        queues=sorted(queues),
        registered=sorted(registered),
    )
