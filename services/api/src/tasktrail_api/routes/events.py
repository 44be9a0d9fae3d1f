"""``/monitor/events``: the audit history (``task_events``) by type, time and actor, and its
NDJSON export.

Entries are what the projector keeps per task: Celery events, the API's own records (with
their ``actor``) and the commands that named tasks (``tasktrail.command.*``, with theirs).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, StreamingResponse

from tasktrail_api import queries, serializers
from tasktrail_api.auth import Viewer
from tasktrail_api.deps import ReadModelsDep
from tasktrail_api.envelope import Envelope, ok
from tasktrail_api.schemas import EventList

router = APIRouter(prefix="/monitor/events", tags=["audit"])
NDJSON = "application/x-ndjson"


@router.get("", response_model=Envelope[EventList])
async def list_events(
    filters: Annotated[queries.EventFilters, Query()], read_models: ReadModelsDep, _: Viewer
) -> JSONResponse:
    """History entries, newest first. ``type`` is an entry type (``task-failed``,
    ``tasktrail.task.amended``, ``tasktrail.command.completed``) or a prefix ending in ``*``;
    ``after`` (inclusive) and ``before`` bound the time; ``actor`` is who asked."""
    message, entry = queries.event_queries(filters)
    rows, count = await read_models.history(message, entry, -1, filters.offset, filters.limit)
    return ok({"events": [serializers.task_event(r, r["events"]) for r in rows], "count": count})


@router.get(
    "/export",
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {}}, "description": "One JSON entry per line"}},
)
async def export_events(
    filters: Annotated[queries.EventFilters, Query()], read_models: ReadModelsDep, _: Viewer
) -> StreamingResponse:
    """Every matching entry, oldest first, one JSON object per line (``limit`` and ``offset``
    are ignored). Streamed in chunks, so any history size exports in constant memory."""
    message, entry = queries.event_queries(filters)

    async def lines() -> AsyncIterator[bytes]:
        async for chunk in read_models.export_events(message):
            out = [
                json.dumps(serializers.task_event(doc, e), separators=(",", ":")).encode()
                for doc in chunk
                for e in doc.get("events") or []
                if isinstance(e, dict) and queries.entry_matches(e, entry)
            ]
            if out:
                yield b"\n".join(out) + b"\n"

    return StreamingResponse(lines(), media_type=NDJSON)
