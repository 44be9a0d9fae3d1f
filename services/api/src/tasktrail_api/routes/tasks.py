"""``/monitor/tasks``: queries, the dashboard, writes through the log, audit and commands.

Fixed paths (``/dashboard``, ``/sync``, ``/revoke``...) are registered before ``/{task_id}``
so they are not read as ids.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from tasktrail_shared.commands import (
    CommandReply,
    RateLimitArgs,
    RevokeByStampedHeadersArgs,
    TimeLimitArgs,
)

from tasktrail_api.auth import CallerScope, Operator, Viewer, ViewerScope
from tasktrail_api.deps import IdempotencyKey, UseCasesDep
from tasktrail_api.domain import serializers
from tasktrail_api.domain.commands import RevokeBody, RunBody
from tasktrail_api.domain.filters import label_filters, parse_flag
from tasktrail_api.domain.writes import TaskCreate, TaskPatch
from tasktrail_api.envelope import Envelope, ok
from tasktrail_api.routes.common import (
    Command,
    EventQuery,
    Id,
    TaskQuery,
    Writes,
    add_commands,
    add_writes,
    page_answer,
)
from tasktrail_api.schemas import (
    Dashboard,
    EventList,
    NewTask,
    RevokeResult,
    TaskDetail,
    TaskList,
)
from tasktrail_api.usecases.writes import TASK

router = APIRouter(prefix="/monitor/tasks", tags=["tasks"])
Sync = Annotated[
    str | None,
    Query(
        max_length=8,
        description="true (or bare ?sync): first reconcile the task from the result "
        "backend through control (operator role)",
    ),
]


def _revoked(body: RevokeBody, reply: CommandReply) -> Any:
    return serializers.revoke_result(reply, body.ids)


def _new_task(body: RunBody, reply: CommandReply) -> Any:
    return {"task_id": str(reply.result)}


@router.get("", response_model=Envelope[TaskList])
async def list_tasks(
    request: Request, filters: TaskQuery, use_cases: UseCasesDep, scope: ViewerScope
) -> JSONResponse:
    """Tasks matching every filter; any label as ``label.<name>=value``; ``count`` is the total.

    Page with ``limit`` + ``offset``, or follow ``next_cursor`` (stable while tasks change).
    """
    page = await use_cases.tasks.list(filters, label_filters(request.query_params), scope)
    return ok(
        {
            "celery_tasks": page.items,
            "count": page.count,
            "count_is_exact": page.count_is_exact,
            "next_cursor": page.next_cursor,
        }
    )


@router.get("/dashboard", response_model=Envelope[Dashboard])
async def dashboard(use_cases: UseCasesDep, scope: ViewerScope) -> JSONResponse:
    """Workers online/offline and tasks per state (a snapshot at most a second or so old)."""
    return ok(await use_cases.dashboard.get(scope))


@router.get("/sync", response_model=Envelope[str])
async def sync_all(
    use_cases: UseCasesDep, caller: Operator, scope: CallerScope, key: IdempotencyKey = None
) -> JSONResponse:
    """Look every unfinished task up in the result backend (control's ``sync``)."""
    return ok(f"{await use_cases.tasks.sync_all(caller, key, scope)} numbers were synchronized.")


add_commands(
    router,
    [
        Command("/revoke", "revoke", RevokeBody, response_model=Envelope[RevokeResult],
                show=_revoked,
                doc="Revoke tasks on every worker; ``list_revokes`` lists the workers that "
                "acknowledged."),
        Command("/revoke-by-stamp", "revoke_by_stamped_headers", RevokeByStampedHeadersArgs,
                name="revoke_by_stamp",
                doc="Revoke the tasks stamped with these headers (Celery 5.3+ stamping)."),
        Command("/rate-limit", "rate_limit", RateLimitArgs),
        Command("/time-limit", "time_limit", TimeLimitArgs),
        Command("/run", "run", RunBody, response_model=Envelope[NewTask], show=_new_task,
                doc="Send a task by name to a cluster (``app``, by default the caller's), with "
                "time limits and labels if given; answers the new task's id."),
    ],
)  # fmt: skip
add_writes(
    router, Writes(TASK, "task_id", TaskCreate, TaskPatch, "celerytask", Envelope[TaskDetail])
)


@router.get("/{task_id}", response_model=Envelope[TaskDetail])
async def get_task(
    task_id: Id,
    use_cases: UseCasesDep,
    caller: Viewer,
    scope: CallerScope,
    sync: Sync = None,
    key: IdempotencyKey = None,
) -> JSONResponse:
    if parse_flag(sync, "sync"):
        return ok({"celerytask": await use_cases.tasks.get_synced(task_id, caller, key, scope)})
    return ok({"celerytask": await use_cases.tasks.get(task_id, scope)})


@router.post("/{task_id}/retry", response_model=Envelope[NewTask])
async def retry(
    task_id: Id,
    use_cases: UseCasesDep,
    caller: Operator,
    scope: CallerScope,
    key: IdempotencyKey = None,
) -> JSONResponse:
    """Send the task again with its original arguments; answers the new task's id."""
    return ok({"task_id": await use_cases.tasks.retry(task_id, caller, key, scope)})


@router.get("/{task_id}/events", response_model=Envelope[EventList])
async def task_history(
    task_id: Id, filters: EventQuery, use_cases: UseCasesDep, scope: ViewerScope
) -> JSONResponse:
    """Everything recorded about the task, oldest first: Celery events, hand-made writes
    (with their actor) and the commands that named it. Kept after a delete, for audit."""
    return page_answer("events", await use_cases.audit.task_history(task_id, filters, scope))
