"""Seed 001's conventions (TheEye's tasks API): answers are plain JSON, not the envelope
(errors under its paths take TheEye's shape: ``envelope.SEED001_PATHS``), and a run's body
may be JSON or an HTML form.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from tasktrail_api.domain import errors
from tasktrail_api.domain.catalog import JobRequest
from tasktrail_api.domain.forms import FORM, JSON, read_body
from tasktrail_api.envelope import ERROR_DESCRIPTIONS, PlainError, describe_validation_errors

PLAIN_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": PlainError, "description": description}
    for status, description in ERROR_DESCRIPTIONS.items()
}
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {"description": "Recorded in the log, not yet projected: {id, event_id, seq, status}"}
}
JOB_LISTS = frozenset({"task_arguments"})


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
