"""Seed 002: ``POST /event``, where a scheduler (the APScheduler listener, the Celery beat
hook, or CronEye's own clients) reports one event.

Every answer, success or failure, is seed 002's envelope ``{"status", "message", "data"}``
(not the ``/monitor`` one): 200 once the event is in the log (JetStream acknowledged it),
400 ``Bad request`` (the reason under ``data.error``), 401 ``Unauthorised user``, 403 for a
viewer token, 500 ``Internal server error`` for anything else, including a log that cannot
take the event now (the client keeps it and retries).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from tasktrail_shared.schedules import Report

from tasktrail_api.auth import credentials
from tasktrail_api.deps import UseCasesDep
from tasktrail_api.domain.errors import BadRequest, DomainError, Forbidden, Unauthorized
from tasktrail_api.domain.principals import Principal, Role

log = logging.getLogger(__name__)
router = APIRouter(tags=["schedulers"])

MESSAGES = {
    400: "Bad request",
    401: "Unauthorised user",
    403: "Forbidden",
    500: "Internal server error",
}
STATUS = {BadRequest: 400, Unauthorized: 401, Forbidden: 403}


def answer(status: int, data: dict[str, Any] | None = None) -> JSONResponse:
    """Seed 002's envelope."""
    body = {
        "status": "success" if status == 200 else "failure",
        "message": "" if status == 200 else MESSAGES[status],
        "data": data or {},
    }
    return JSONResponse(body, status_code=status)


def _status(exc: DomainError) -> int:
    for kind, status in STATUS.items():
        if isinstance(exc, kind):
            return status
    return 500


def _body(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadRequest(f"body: not JSON ({exc})") from exc


async def _caller(request: Request, use_cases: UseCasesDep) -> Principal:
    token = credentials(
        request.headers.get("authorization"), request.query_params.get("access_token")
    )
    if token is None:
        raise Unauthorized("authentication required")
    caller = await use_cases.tokens.identify(token)
    if caller.role < Role.operator:
        raise Forbidden("reporting needs the operator role")
    return caller


@router.post(
    "/event",
    response_model=None,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": Report.model_json_schema()}},
        }
    },
    responses={
        200: {"description": "In the log"},
        400: {"description": "Bad request"},
        401: {"description": "Unauthorised user"},
        500: {"description": "Internal server error"},
    },
)
async def report_event(request: Request, use_cases: UseCasesDep) -> JSONResponse:
    """One APScheduler event (seed 002): answered once it is durably in the log."""
    try:
        caller = await _caller(request, use_cases)
        await use_cases.schedules.report(caller, _body(await request.body()))
    except DomainError as exc:
        status = _status(exc)
        if status == 500:
            log.warning("POST /event failed: %s", exc.message)
        return answer(status, {"error": exc.message} if status == 400 else None)
    except Exception:
        log.exception("POST /event failed")
        return answer(500)
    return answer(200)
