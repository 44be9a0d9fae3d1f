"""The response envelope ``{err, err_code, err_msg, data}`` and the handlers that always use it.

Clients of the original API test ``err`` and read ``data``; every answer, including framework
errors (validation, unknown route, wrong method, crashes), keeps that shape.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from tasktrail_api.errors import ApiError

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


def ok(data: Any) -> JSONResponse:
    """A success envelope around ``data``, which the serializers already made JSON-safe.

    Routes declare ``response_model=Envelope[...]`` for the documentation but return this
    response directly, so a large page is not validated a second time on its way out.
    """
    return JSONResponse({"err": False, "err_code": 0, "err_msg": None, "data": data})


def error_response(
    status_code: int,
    message: str,
    *,
    err_code: int | None = None,
    data: Any = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorEnvelope(
        err_code=status_code if err_code is None else err_code, err_msg=message, data=data
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=status_code, headers=headers)


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


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status_code, exc.message, err_code=exc.err_code, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    message, details = describe_validation_errors(exc.errors())
    return error_response(400, message, data={"errors": details})


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, str(exc.detail), headers=headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(500, "internal server error")


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
