"""Liveness and readiness, unauthenticated so orchestrators can probe them."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tasktrail_api.deps import CommandsDep, ReadModelsDep, SettingsDep
from tasktrail_api.envelope import Envelope, error_response, ok
from tasktrail_api.schemas import Health

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


@router.get("/healthz", response_model=Envelope[Health])
async def healthz() -> JSONResponse:
    """The process is up; says nothing about MongoDB or NATS."""
    return ok({"status": "ok", "checks": {}})


@router.get("/readyz", response_model=Envelope[Health])
async def readyz(
    settings: SettingsDep, read_models: ReadModelsDep, commands: CommandsDep
) -> JSONResponse:
    """Serving needs MongoDB (every read) and NATS (every command): ping both."""
    try:
        await read_models.ping(settings.api_ready_timeout)
        mongo_ok = True
    except Exception as exc:  # any failure to answer a ping means "not ready"
        log.warning("readiness: MongoDB ping failed: %r", exc)
        mongo_ok = False
    checks = {"mongo": mongo_ok, "nats": commands.connected}
    if all(checks.values()):
        return ok({"status": "ok", "checks": checks})
    return error_response(503, "not ready", data={"status": "unavailable", "checks": checks})
