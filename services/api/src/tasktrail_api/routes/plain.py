"""Seed 001's conventions (TheEye's tasks API): answers are plain JSON, not the envelope, and
errors are TheEye's ``{statusCode, error, message}`` with the statuses the rest of the API
uses (``envelope.status_of``); a run's body may be JSON or an HTML form.

A route of this kind catches what its dependencies and handler raise (a bad token, a bad
parameter, a use case's failure) and answers it in that shape; paths no route matches still
answer the envelope.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from tasktrail_api.domain import errors
from tasktrail_api.domain.catalog import JobRequest
from tasktrail_api.domain.forms import FORM, JSON, read_body
from tasktrail_api.envelope import (
    CHALLENGE,
    ERROR_DESCRIPTIONS,
    PlainError,
    describe_validation_errors,
    plain_error,
    status_of,
)

PLAIN_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": PlainError, "description": description}
    for status, description in ERROR_DESCRIPTIONS.items()
}
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"description": "Recorded in the log, not yet projected: {id, event_id, seq, status}"}
}
JOB_LISTS = frozenset({"task_arguments"})


class PlainRoute(APIRoute):
    """A route that answers its errors in TheEye's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except errors.DomainError as exc:
                headers = CHALLENGE if isinstance(exc, errors.Unauthorized) else None
                return plain_error(status_of(exc), exc.message, headers=headers)
            except RequestValidationError as exc:
                return plain_error(400, describe_validation_errors(exc.errors())[0])
            except StarletteHTTPException as exc:
                headers = dict(exc.headers) if exc.headers else None
                return plain_error(exc.status_code, str(exc.detail), headers=headers)

        return handle


def answer(data: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(data, status_code=status_code)


def accepted(entry_id: str, event_id: str, seq: int) -> JSONResponse:
    body = {"id": entry_id, "event_id": event_id, "seq": seq, "status": "accepted"}
    return JSONResponse(body, status_code=202)


async def job_request(request: Request) -> JobRequest:
    """A run's body, read from JSON or from a form."""
    fields = read_body(request.headers.get("content-type"), await request.body(), JOB_LISTS)
    try:
        return JobRequest.model_validate(fields)
    except ValidationError as exc:
        raise errors.BadRequest(describe_validation_errors(exc.errors())[0]) from exc


_FORM_SCHEMA = {
    "type": "object",
    "properties": {
        "customer": {"type": "string"},
        "task": {"type": "string"},
        "task_arguments[]": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": False,
}
JOB_BODY: dict[str, Any] = {
    "requestBody": {
        "required": False,
        "content": {
            JSON: {"schema": JobRequest.model_json_schema()},
            FORM: {"schema": _FORM_SCHEMA},
        },
    }
}
"""How a run's body is described in the OpenAPI schema (the handler reads it itself)."""
