"""``/monitor/events``: the audit history (``task_events``) by type, time and actor, and its
NDJSON export.

Entries are what the projector keeps per task: Celery events, the API's hand-made writes
(with their ``actor``) and the commands that named tasks (``tasktrail.command.*``, with theirs),
of the clusters the caller sees, and the token and organisation changes of its organisation.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse

from tasktrail_api.auth import ViewerScope
from tasktrail_api.deps import UseCasesDep
from tasktrail_api.envelope import Envelope
from tasktrail_api.routes.common import EventQuery, page_answer
from tasktrail_api.schemas import EventList

router = APIRouter(prefix="/monitor/events", tags=["audit"])
NDJSON = "application/x-ndjson"


@router.get("", response_model=Envelope[EventList])
async def list_events(
    filters: EventQuery, use_cases: UseCasesDep, scope: ViewerScope
) -> JSONResponse:
    """History entries, newest first. ``type`` is an entry type (``task-failed``,
    ``tasktrail.task.amended``, ``tasktrail.command.completed``) or a prefix ending in ``*``;
    ``after`` (inclusive) and ``before`` bound the time; ``actor`` is who asked."""
    return page_answer("events", await use_cases.audit.events(filters, scope))


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {}}, "description": "One JSON entry per line"}},
)
async def export_events(
    filters: EventQuery, use_cases: UseCasesDep, scope: ViewerScope
) -> StreamingResponse:
    """Every matching entry, oldest first, one JSON object per line (``limit`` and ``offset``
    are ignored). Streamed in chunks, so any history size exports in constant memory."""

    async def lines() -> AsyncIterator[bytes]:
        async for entries in use_cases.audit.export(filters, scope):
            yield b"".join(json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in entries)

    return StreamingResponse(lines(), media_type=NDJSON)
