"""``/monitor/queues``: broker queue maintenance through control."""

from __future__ import annotations

from fastapi import APIRouter
from tasktrail_shared.commands import PurgeArgs

from tasktrail_api.domain.principals import Role
from tasktrail_api.routes.common import Command, add_commands

router = APIRouter(prefix="/monitor/queues", tags=["queues"])

add_commands(
    router,
    [
        Command(
            "/purge",
            "purge",
            PurgeArgs,
            Role.admin,
            doc="Delete every message waiting in ``queue``; ``result`` is how many were removed.",
        )
    ],
)
