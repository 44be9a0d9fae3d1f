"""``/monitor/tasks``: queries, the dashboard, writes through the log, audit and commands.

Fixed paths (``/dashboard``, ``/sync``, ``/revoke``...) are registered before ``/{task_id}``
so they are not read as ids.
"""

from __future__ import annotations

import time
import uuid as uuidlib
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from tasktrail_shared import mongo, own_events

from tasktrail_api import queries, serializers, writes
from tasktrail_api.adapters.readmodels import Doc
from tasktrail_api.auth import Admin, Operator, Role, Viewer
from tasktrail_api.deps import CommandsDep, DashboardDep, EventLogDep, ReadModelsDep, SettingsDep
from tasktrail_api.envelope import Envelope, ok
from tasktrail_api.errors import ApiError, conflict, forbidden, not_found
from tasktrail_api.routes.common import (
    ACCEPTED_RESPONSE,
    accepted,
    publish_and_wait,
    send_command,
    wait_for,
)
from tasktrail_api.schemas import (
    CommandResult,
    Dashboard,
    EventList,
    NewTask,
    RateLimitRequest,
    RevokeByStampRequest,
    RevokeRequest,
    RevokeResult,
    RunRequest,
    TaskDetail,
    TaskList,
    TimeLimitRequest,
)

router = APIRouter(prefix="/monitor/tasks", tags=["tasks"])
TaskId = Annotated[str, Path(min_length=1, max_length=255)]
WRITE_PROJECTION = {**queries.TASK_PROJECTION, **writes.APPLIED_PROJECTION}
TRUE, FALSE = ("", "1", "true", "yes", "on"), ("0", "false", "no", "off")


def _bad(field: str, message: str) -> ApiError:
    return ApiError(400, f"{field}: {message}")


@router.get("", response_model=Envelope[TaskList])
async def list_tasks(
    request: Request,
    filters: Annotated[queries.TaskFilters, Query()],
    read_models: ReadModelsDep,
    _: Viewer,
) -> JSONResponse:
    """Tasks matching every filter; any label as ``label.<name>=value``; ``count`` is the total.

    Page with ``limit`` + ``offset``, or follow ``next_cursor`` (stable while tasks change).
    """
    try:
        labels = queries.label_filters(request.query_params)
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc
    if filters.cursor is not None and filters.offset:
        raise _bad("cursor", "give either cursor or offset, not both")
    base = queries.task_query(filters, labels)
    sort = queries.Sort.parse(filters.sort)
    if filters.offset:
        read = read_models.find(
            mongo.TASKS, base, queries.TASK_PROJECTION, sort.spec,
            skip=filters.offset, limit=filters.limit,
        )  # fmt: skip
    else:
        try:
            cursor = queries.decode_cursor(filters.cursor, filters.sort) if filters.cursor else None
        except queries.BadCursor as exc:
            raise _bad("cursor", str(exc)) from exc
        read = read_models.find_segments(
            mongo.TASKS, queries.segments(base, sort, cursor, datetime.now(UTC)),
            queries.TASK_PROJECTION,
            filters.limit,
        )  # fmt: skip
    docs, count = await read_models.page(mongo.TASKS, base, read)
    next_cursor = (
        queries.cursor_after(docs[-1], sort, filters.sort) if len(docs) == filters.limit else None
    )
    return ok(
        {
            "celery_tasks": [serializers.task(doc) for doc in docs],
            "count": count,
            "next_cursor": next_cursor,
        }
    )


@router.get("/dashboard", response_model=Envelope[Dashboard])
async def dashboard(cache: DashboardDep, _: Viewer) -> JSONResponse:
    """Workers online/offline and tasks per state (a snapshot at most a second or so old)."""
    return ok(await cache.get())


@router.get("/sync", response_model=Envelope[str])
async def sync_all(
    settings: SettingsDep, read_models: ReadModelsDep, commands: CommandsDep, principal: Operator
) -> JSONResponse:
    """Look every unfinished task up in the result backend (control's ``sync``)."""
    ids = await read_models.ids(mongo.TASKS, queries.unfinished_tasks(), settings.api_sync_max)
    done = 0
    for start in range(0, len(ids), settings.api_sync_chunk):
        chunk = ids[start : start + settings.api_sync_chunk]
        reply = await send_command(commands, "sync", {"ids": chunk}, principal)
        done += reply.result if isinstance(reply.result, int) else 0
    return ok(f"{done} numbers were synchronized.")


@router.post("/revoke", response_model=Envelope[RevokeResult])
async def revoke(body: RevokeRequest, commands: CommandsDep, principal: Operator) -> JSONResponse:
    """Revoke tasks on every worker; ``list_revokes`` lists the workers that acknowledged."""
    args = {"ids": body.ides, "terminate": body.terminate, "signal": body.signal}
    reply = await send_command(commands, "revoke", args, principal)
    return ok(serializers.revoke_result(reply, body.ides))


@router.post("/revoke-by-stamp", response_model=Envelope[CommandResult])
async def revoke_by_stamp(
    body: RevokeByStampRequest, commands: CommandsDep, principal: Operator
) -> JSONResponse:
    """Revoke the tasks stamped with these headers (Celery 5.3+ stamping)."""
    reply = await send_command(
        commands, "revoke_by_stamped_headers", body.model_dump(mode="json"), principal
    )
    return ok(serializers.command_result(reply))


@router.post("/rate-limit", response_model=Envelope[CommandResult])
async def rate_limit(
    body: RateLimitRequest, commands: CommandsDep, principal: Operator
) -> JSONResponse:
    reply = await send_command(commands, "rate_limit", body.model_dump(mode="json"), principal)
    return ok(serializers.command_result(reply))


@router.post("/time-limit", response_model=Envelope[CommandResult])
async def time_limit(
    body: TimeLimitRequest, commands: CommandsDep, principal: Operator
) -> JSONResponse:
    reply = await send_command(commands, "time_limit", body.model_dump(mode="json"), principal)
    return ok(serializers.command_result(reply))


@router.post("/run", response_model=Envelope[NewTask])
async def run(body: RunRequest, commands: CommandsDep, principal: Operator) -> JSONResponse:
    """Send a task by name; answers the new task's id."""
    args = body.model_dump(mode="json")
    args["eta"] = body.eta.isoformat() if body.eta else None
    reply = await send_command(commands, "run", args, principal)
    return ok({"task_id": str(reply.result)})


@router.post(
    "",
    status_code=201,
    response_model=Envelope[TaskDetail],
    responses={**ACCEPTED_RESPONSE, 409: {"description": "The task exists"}},
)
async def create_task(
    body: writes.TaskCreate,
    settings: SettingsDep,
    read_models: ReadModelsDep,
    event_log: EventLogDep,
    principal: Admin,
) -> JSONResponse:
    """Record a task by hand (a ``tasktrail.task.recorded`` event); answers it as projected."""
    task_id = body.uuid or str(uuidlib.uuid4())
    held = await read_models.get_task(task_id, {"deleted": 1})
    if held is not None and held.get("deleted") is not True:
        raise conflict(f"task {task_id} exists; PATCH it instead")
    fields = body.record_fields(keep_nulls=False)
    payload = writes.payload(
        own_events.TASK_RECORDED, at=time.time(), actor=principal.name, uuid=task_id, fields=fields
    )
    outcome = await publish_and_wait(
        event_log,
        own_events.TASK_RECORDED,
        payload,
        lambda: read_models.get_task(task_id, WRITE_PROJECTION),
        lambda doc, event_id: writes.applied(doc, "recorded", event_id, fields),
        settings.api_write_wait,
    )
    if not outcome.applied or outcome.doc is None:
        return accepted(outcome.published)
    response = ok({"celerytask": serializers.task(outcome.doc)})
    response.status_code = 201
    return response


async def _live_task(read_models: ReadModelsDep, task_id: str) -> Doc:
    doc = await read_models.get_task(task_id, queries.TASK_PROJECTION | {"deleted": 1})
    if doc is None or doc.get("deleted") is True:
        raise not_found("task")
    return doc


def _flag(raw: str | None, field: str) -> bool:
    if raw is None:
        return False
    if raw.strip().lower() in TRUE:
        return True
    if raw.strip().lower() in FALSE:
        return False
    raise _bad(field, "expected true or false")


def _reconciled_since(doc: Doc | None, since: float) -> bool:
    held = ((doc or {}).get("_records") or {}).get("reconciled") or {}
    at = held.get("at") if isinstance(held, dict) else None
    return isinstance(at, int | float) and at >= since


@router.get("/{task_id}", response_model=Envelope[TaskDetail])
async def get_task(
    task_id: TaskId,
    settings: SettingsDep,
    read_models: ReadModelsDep,
    commands: CommandsDep,
    principal: Viewer,
    sync: Annotated[
        str | None,
        Query(
            max_length=8,
            description="true (or bare ?sync): first reconcile the task from the result "
            "backend through control (operator role)",
        ),
    ] = None,
) -> JSONResponse:
    if _flag(sync, "sync"):
        if principal.role < Role.operator:
            raise forbidden("?sync needs the operator role")
        since = time.time() - 1.0
        reply = await send_command(commands, "sync", {"ids": [task_id]}, principal)
        if isinstance(reply.result, int) and reply.result > 0:
            projection = {**queries.TASK_PROJECTION, "_records": 1, "deleted": 1}
            await wait_for(
                lambda: read_models.get_task(task_id, projection),
                lambda doc: _reconciled_since(doc, since),
                settings.api_write_wait,
            )
    doc = await _live_task(read_models, task_id)
    return ok({"celerytask": serializers.task(doc)})


@router.patch("/{task_id}", response_model=Envelope[TaskDetail], responses=ACCEPTED_RESPONSE)
async def patch_task(
    task_id: TaskId,
    body: writes.TaskPatch,
    settings: SettingsDep,
    read_models: ReadModelsDep,
    event_log: EventLogDep,
    principal: Admin,
) -> JSONResponse:
    """Amend fields (a ``tasktrail.task.amended`` event): they override what Celery said."""
    await _live_task(read_models, task_id)
    fields = body.record_fields(keep_nulls=True)
    payload = writes.payload(
        own_events.TASK_AMENDED, at=time.time(), actor=principal.name, uuid=task_id, fields=fields
    )
    outcome = await publish_and_wait(
        event_log,
        own_events.TASK_AMENDED,
        payload,
        lambda: read_models.get_task(task_id, WRITE_PROJECTION),
        lambda doc, event_id: writes.applied(doc, "amended", event_id, fields),
        settings.api_write_wait,
    )
    if not outcome.applied or outcome.doc is None:
        return accepted(outcome.published)
    return ok({"celerytask": serializers.task(outcome.doc)})


@router.delete("/{task_id}", status_code=204, response_class=Response, responses=ACCEPTED_RESPONSE)
async def delete_task(
    task_id: TaskId,
    settings: SettingsDep,
    read_models: ReadModelsDep,
    event_log: EventLogDep,
    principal: Admin,
) -> Response:
    """Hide the task from every query (a ``tasktrail.task.deleted`` event); its history stays."""
    await _live_task(read_models, task_id)
    payload = writes.payload(
        own_events.TASK_DELETED, at=time.time(), actor=principal.name, uuid=task_id
    )
    outcome = await publish_and_wait(
        event_log,
        own_events.TASK_DELETED,
        payload,
        lambda: read_models.get_task(task_id, {"deleted": 1}),
        lambda doc, event_id: writes.applied(doc, "deleted", event_id, {}),
        settings.api_write_wait,
    )
    if not outcome.applied:
        return accepted(outcome.published)
    return Response(status_code=204)


@router.post("/{task_id}/retry", response_model=Envelope[NewTask])
async def retry(
    task_id: TaskId, read_models: ReadModelsDep, commands: CommandsDep, principal: Operator
) -> JSONResponse:
    """Send the task again with its original arguments; answers the new task's id."""
    doc = await _live_task(read_models, task_id)
    name, args, kwargs = doc.get("name"), doc.get("args"), doc.get("kwargs")
    if not isinstance(name, str) or not name:
        raise ApiError(422, "the task's name is not known, so it cannot be sent again")
    if not isinstance(args, str) or "..." in args or (isinstance(kwargs, str) and "..." in kwargs):
        raise ApiError(422, "the task's arguments were not captured in full")
    retry_args: dict[str, Any] = {
        "id": task_id,
        "name": name,
        "args": args,
        "kwargs": kwargs if isinstance(kwargs, str) else None,
        "queue": doc.get("queue") if isinstance(doc.get("queue"), str) else None,
    }
    reply = await send_command(commands, "retry", retry_args, principal)
    return ok({"task_id": str(reply.result)})


@router.get("/{task_id}/events", response_model=Envelope[EventList])
async def task_history(
    task_id: TaskId,
    filters: Annotated[queries.EventFilters, Query()],
    read_models: ReadModelsDep,
    _: Viewer,
) -> JSONResponse:
    """Everything recorded about the task, oldest first: Celery events, own records (with
    their actor) and the commands that named it. Kept after a delete, for audit."""
    message, entry = queries.event_queries(filters, uuid=task_id)
    rows, count = await read_models.history(message, entry, 1, filters.offset, filters.limit)
    if count == 0 and await read_models.get_task(task_id, {"_id": 1}) is None:
        raise not_found("task")
    return ok({"events": [serializers.task_event(r, r["events"]) for r in rows], "count": count})
