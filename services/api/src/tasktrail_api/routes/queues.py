"""``/monitor/queues``: each broker queue's depth and trend (viewer), and purge through
control (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from tasktrail_api.auth import CallerScope, Viewer
from tasktrail_api.deps import UseCasesDep
from tasktrail_api.domain.commands import PurgeBody
from tasktrail_api.domain.principals import Role
from tasktrail_api.domain.scope import ClusterName
from tasktrail_api.envelope import ok
from tasktrail_api.routes.common import Command, add_commands

router = APIRouter(prefix="/monitor/queues", tags=["queues"])


@router.get("")
async def list_queues(
    use_cases: UseCasesDep,
    _: Viewer,
    scope: CallerScope,
    app: Annotated[ClusterName | None, Query(description="only this cluster's queues")] = None,
) -> JSONResponse:
    """Each queue's ``depth`` (messages waiting) as last measured, ``measured_at``, ``age``
    (seconds since) and ``trend`` (the latest depth of each minute, the last day)."""
    return ok({"queues": await use_cases.queues.depths(scope, app)})


add_commands(
    router,
    [
        Command(
            "/purge",
            "purge",
            PurgeBody,
            Role.admin,
            doc="Delete every message waiting in ``queue`` of a cluster's broker (``app``, by "
            "default the caller's); ``result`` is how many were removed.",
        )
    ],
)
