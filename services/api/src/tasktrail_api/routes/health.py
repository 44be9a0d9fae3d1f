"""Liveness and readiness, unauthenticated so orchestrators can probe them."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tasktrail_api.deps import UseCasesDep
from tasktrail_api.envelope import Envelope, error_response, ok
from tasktrail_api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Envelope[Health])
async def healthz() -> JSONResponse:
    """The process is up; says nothing about MongoDB or NATS."""
    return ok({"status": "ok", "checks": {}})


@router.get("/readyz", response_model=Envelope[Health])
async def readyz(use_cases: UseCasesDep) -> JSONResponse:
    """Serving needs MongoDB (every read) and NATS (every command): ping both."""
    checks = await use_cases.health.readiness()
    if all(checks.values()):
        return ok({"status": "ok", "checks": checks})
    return error_response(503, "not ready", data={"status": "unavailable", "checks": checks})
