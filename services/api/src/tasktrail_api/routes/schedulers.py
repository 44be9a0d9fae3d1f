"""``/monitor/schedulers``: schedulers, their jobs and runs (viewer), and a job's grace period
and maximum run time (admin). Another organisation's schedulers answer 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse

from tasktrail_api.auth import Admin, CallerScope, Viewer
from tasktrail_api.deps import UseCasesDep
from tasktrail_api.domain.schedules import HealthName, JobPatch
from tasktrail_api.envelope import ok

router = APIRouter(prefix="/monitor/schedulers", tags=["schedulers"])
Alias = Annotated[str, Path(min_length=1, max_length=200, description="The scheduler's alias")]
JobId = Annotated[str, Path(min_length=1, max_length=200, description="The job's job_id")]


@router.get("")
async def list_schedulers(use_cases: UseCasesDep, _: Viewer, scope: CallerScope) -> JSONResponse:
    return ok({"schedulers": await use_cases.schedules.schedulers(scope)})


@router.get("/{alias}")
async def get_scheduler(
    alias: Alias, use_cases: UseCasesDep, _: Viewer, scope: CallerScope
) -> JSONResponse:
    return ok({"scheduler": await use_cases.schedules.scheduler(alias, scope)})


@router.get("/{alias}/jobs")
async def list_jobs(
    alias: Alias,
    use_cases: UseCasesDep,
    _: Viewer,
    scope: CallerScope,
    health: Annotated[HealthName | None, Query(description="only jobs of this health")] = None,
) -> JSONResponse:
    return ok({"jobs": await use_cases.schedules.jobs(alias, scope, health)})


@router.get("/{alias}/jobs/{job}")
async def get_job(
    alias: Alias, job: JobId, use_cases: UseCasesDep, _: Viewer, scope: CallerScope
) -> JSONResponse:
    return ok({"job": await use_cases.schedules.job(alias, job, scope)})


@router.patch("/{alias}/jobs/{job}")
async def configure_job(
    alias: Alias,
    job: JobId,
    body: JobPatch,
    use_cases: UseCasesDep,
    caller: Admin,
    scope: CallerScope,
) -> JSONResponse:
    """Set the job's ``grace_seconds`` and ``max_runtime_seconds`` (null: the default)."""
    return ok({"job": await use_cases.schedules.configure(caller, alias, job, body, scope)})


@router.get("/{alias}/jobs/{job}/runs")
async def list_runs(
    alias: Alias,
    job: JobId,
    use_cases: UseCasesDep,
    _: Viewer,
    scope: CallerScope,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    """Newest first; ``next_cursor`` reads the next page (null: none)."""
    runs, after = await use_cases.schedules.runs(alias, job, scope, cursor, limit)
    return ok({"runs": runs, "next_cursor": after})
