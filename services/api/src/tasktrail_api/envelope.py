"""The response envelope ``{err, err_code, err_msg, data}`` and the handlers that always use it.

Clients of the original API test ``err`` and read ``data``; every answer, including framework
errors (validation, unknown route, wrong method, crashes), keeps that shape. This is the one
place where a use case's failure (``domain.errors``) becomes an HTTP status.

Seed 001's routes (TheEye's tasks API, :data:`SEED001_PATHS`) answer plain JSON instead, and
every error under their paths (a bad token or body, an unknown path, a body too large) in
TheEye's shape, ``{statusCode, error, message}`` (:func:`plain_error`), with the same statuses.

Seed 003's batch API (under ``/ctrl_api/``) answers in its own shape, ``{"reply": [...]}``:
each call's entry carries its result or an error object ``{"code", "message"}`` (``code`` is
the status the same failure gets elsewhere), and a request that fails as a whole (bad body,
no token) gets ``{"reply": [], "error": {...}}`` with that status.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, Generic, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from tasktrail_api.domain import errors
from tasktrail_api.usecases.batch import Reply

log = logging.getLogger(__name__)

DataT = TypeVar("DataT")


class Envelope(BaseModel, Generic[DataT]):
    err: bool = False
    err_code: int = 0
    err_msg: str | None = None
    data: DataT


class ErrorEnvelope(BaseModel):
    err: bool = True
    err_code: int
    err_msg: str
    data: Any = None


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Invalid parameters or body; the message names the field",
    401: "Missing or invalid token",
    403: "The token's role is not enough",
    404: "Not found",
    409: "Conflicts with what exists",
    413: "The request body is too large",
    422: "Understood, but cannot be done (e.g. arguments not captured in full)",
    502: "The control service reported a failure",
    503: "MongoDB, NATS or the control service is unavailable",
}
"""Every error status the API answers, for the OpenAPI description."""
STATUS: dict[type[errors.DomainError], int] = {
    errors.BadRequest: 400,
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Unprocessable: 422,
    errors.CommandFailed: 502,
    errors.Unavailable: 503,
}
"""The HTTP status of each failure a use case reports."""
CHALLENGE = {"WWW-Authenticate": "Bearer"}


def ok(data: Any, status_code: int = 200) -> JSONResponse:
    """A success envelope around ``data``, which the serializers already made JSON-safe.

    Routes declare ``response_model=Envelope[...]`` for the documentation but return this
    response directly, so a large page is not validated a second time on its way out.
    """
    body = {"err": False, "err_code": 0, "err_msg": None, "data": data}
    return JSONResponse(body, status_code=status_code)


SEED001_PATHS = re.compile(r"^/(?:job|[^/]+/(?:task|job))(?:/|$)")
"""Seed 001's paths: ``/job...``, ``/<customer>/task...``, ``/<customer>/job...``."""
BATCH_PATHS = "/ctrl_api/"
"""Where answers take seed 003's shape instead of the envelope."""


def error_response(
    status_code: int,
    message: str,
    *,
    data: Any = None,
    headers: dict[str, str] | None = None,
    path: str = "",
) -> JSONResponse:
    """An error envelope; ``err_code`` is the HTTP status (stable, clients test it). Under
    :data:`SEED001_PATHS`, TheEye's error body, and under :data:`BATCH_PATHS` seed 003's
    failed request, instead."""
    if SEED001_PATHS.match(path):
        return plain_error(status_code, message, headers=headers)
    if path.startswith(BATCH_PATHS):
        failed = {"reply": [], "error": {"code": status_code, "message": message}}
        return JSONResponse(failed, status_code=status_code, headers=headers)
    body = ErrorEnvelope(err_code=status_code, err_msg=message, data=data)
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)


def batch_reply(replies: Sequence[Reply]) -> JSONResponse:
    """Seed 003's answer: one entry per call, in order, with the call's ``id`` if it had one."""
    entries = []
    for reply in replies:
        entry: dict[str, Any] = {"method": reply.call.method}
        if reply.call.id is not None:
            entry["id"] = reply.call.id
        if reply.error is None:
            entry["result"] = reply.result
        else:
            entry["error"] = {"code": status_of(reply.error), "message": reply.error.message}
        entries.append(entry)
    return JSONResponse({"reply": entries})


def describe_validation_errors(errors: Sequence[Any]) -> tuple[str, list[dict[str, str]]]:
    """One readable message naming each bad field, plus the per-field details."""
    details = []
    for error in errors:
        loc = [str(part) for part in error.get("loc", ())]
        where = loc[0] if loc and loc[0] in ("query", "path", "body", "header") else ""
        field = ".".join(loc[1:] if where else loc) or where or "request"
        details.append({"field": field, "in": where, "msg": str(error.get("msg", "invalid"))})
    message = "; ".join(f"{d['field']}: {d['msg']}" for d in details) or "invalid request"
    return message, details


class PlainError(BaseModel):
    """An error of seed 001's routes, as TheEye answers it."""

    statusCode: int  # TheEye's name
    error: str
    message: str


def plain_error(
    status_code: int, message: str, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    """``{statusCode, error, message}``: the status, its reason phrase, and what went wrong."""
    body = PlainError(statusCode=status_code, error=HTTPStatus(status_code).phrase, message=message)
    return JSONResponse(body.model_dump(), status_code=status_code, headers=headers)


def status_of(exc: errors.DomainError) -> int:
    for kind in type(exc).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


async def domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.DomainError)
    headers = CHALLENGE if isinstance(exc, errors.Unauthorized) else None
    return error_response(status_of(exc), exc.message, headers=headers, path=request.url.path)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    message, details = describe_validation_errors(exc.errors())
    return error_response(400, message, data={"errors": details}, path=request.url.path)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, str(exc.detail), headers=headers, path=request.url.path)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal server error", path=request.url.path)


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, _unexpected_error)
