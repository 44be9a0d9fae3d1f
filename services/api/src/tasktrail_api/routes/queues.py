"""``/monitor/queues``: broker queue maintenance through control."""

from __future__ import annotations

from fastapi import APIRouter

from tasktrail_api.domain.commands import PurgeBody
from tasktrail_api.domain.principals import Role
from tasktrail_api.routes.common import Command, add_commands

router = APIRouter(prefix="/monitor/queues", tags=["queues"])

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
