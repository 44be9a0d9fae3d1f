"""``/monitor/queues``: broker queue maintenance through control."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tasktrail_api import serializers
from tasktrail_api.auth import Admin
from tasktrail_api.deps import CommandsDep
from tasktrail_api.envelope import Envelope, ok
from tasktrail_api.routes.common import send_command
from tasktrail_api.schemas import CommandResult, PurgeRequest

router = APIRouter(prefix="/monitor/queues", tags=["queues"])


@router.post("/purge", response_model=Envelope[CommandResult])
async def purge(body: PurgeRequest, commands: CommandsDep, principal: Admin) -> JSONResponse:
    """Delete every message waiting in ``queue``; ``result`` is how many were removed."""
    reply = await send_command(commands, "purge", {"queue": body.queue}, principal)
    return ok(serializers.command_result(reply))
