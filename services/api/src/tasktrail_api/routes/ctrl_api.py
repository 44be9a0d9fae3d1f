"""Seed 003's batch control API: ``POST /ctrl_api/v1/json``.

The body is ``{"user_id", "methods": [{"method", "id", "params"}]}``; the answer
``{"reply": [...]}``, one entry per call in order (see ``usecases.batch`` and docs/api.md).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from tasktrail_api.auth import CallerScope, Viewer
from tasktrail_api.deps import IdempotencyKey, UseCasesDep
from tasktrail_api.domain.batch import BatchRequest
from tasktrail_api.envelope import batch_reply
from tasktrail_api.schemas import BatchAnswer, BatchFailure
from tasktrail_api.usecases.batch import Caller

router = APIRouter(prefix="/ctrl_api/v1", tags=["seed 003"])
IN_ENTRIES = "Not the whole batch's answer: a method failing so says it in its entry"
REFUSED: dict[int | str, dict[str, Any]] = {
    status: {"model": BatchFailure, "description": description}
    for status, description in (
        (400, "The body is not a batch; error.message names the field"),
        (401, "Missing or invalid token"),
        (413, "The request body is too large"),
        (503, "MongoDB is unavailable (to check the token)"),
        *((status, IN_ENTRIES) for status in (403, 404, 409, 422, 502)),
    )
}
"""Every refusal of the request as a whole is in seed 003's shape (``envelope``), overriding
the app's envelope for this route."""


@router.post("/json", response_model=BatchAnswer, responses=REFUSED)
async def batch(
    body: BatchRequest,
    use_cases: UseCasesDep,
    principal: Viewer,
    scope: CallerScope,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """Run the methods in order (TaskInfo, AppTasks, TaskEvents: viewer; TaskStart, TaskStop:
    operator); each entry of ``reply`` holds its call's ``result`` or ``error``."""
    return batch_reply(await use_cases.batch.run(body, Caller(principal, scope, key)))
