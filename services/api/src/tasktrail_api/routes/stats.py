"""``/monitor/stats``: task counts per state and run times over time (the projector's
per-minute buckets), for charts."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tasktrail_api.auth import ViewerScope
from tasktrail_api.deps import UseCasesDep
from tasktrail_api.envelope import ok
from tasktrail_api.routes.common import StatsQuery

router = APIRouter(prefix="/monitor/stats", tags=["stats"])


@router.get("")
async def stats(filters: StatsQuery, use_cases: UseCasesDep, scope: ViewerScope) -> JSONResponse:
    """``steps``: one entry per ``step`` seconds from ``after`` (default: an hour ago) to
    ``before`` (default: now), each with ``counts`` per state and ``runtime`` (count, sum, min,
    max, and a histogram: ``hist`` per bin, ``edges`` their upper bounds in seconds). ``name``
    or ``worker`` narrows to one task name or one worker (a worker's steps have no run time)."""
    return ok(await use_cases.stats.series(filters, scope))
