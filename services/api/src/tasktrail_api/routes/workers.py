"""``/monitor/workers``: queries, writes through the log, refresh, shutdown and pool commands.

Fixed paths (``/refresh``, ``/shutdown``, ``/pool/...``) come before ``/{worker_id}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from tasktrail_shared.commands import (
    AutoscaleArgs,
    CommandReply,
    ConsumerArgs,
    PingArgs,
    PoolArgs,
    ShutdownArgs,
)

from tasktrail_api.auth import CallerScope, Operator, ViewerScope
from tasktrail_api.deps import IdempotencyKey, UseCasesDep
from tasktrail_api.domain import serializers
from tasktrail_api.domain.principals import Role
from tasktrail_api.domain.writes import WorkerCreate, WorkerPatch
from tasktrail_api.envelope import Envelope, ok
from tasktrail_api.routes.common import (
    Command,
    Id,
    WorkerQuery,
    Writes,
    add_commands,
    add_writes,
    page_answer,
)
from tasktrail_api.schemas import ShutdownResult, WorkerDetail, WorkerList
from tasktrail_api.usecases.writes import WORKER

router = APIRouter(prefix="/monitor/workers", tags=["workers"])


def _shut_down(body: ShutdownArgs, reply: CommandReply) -> Any:
    return serializers.shutdown_result(reply)


@router.get("", response_model=Envelope[WorkerList])
async def list_workers(
    filters: WorkerQuery, use_cases: UseCasesDep, scope: ViewerScope
) -> JSONResponse:
    return page_answer("celery_workers", await use_cases.workers.list(filters, scope))


@router.get(
    "/refresh",
    status_code=205,
    response_model=None,
    responses={205: {"description": "Refreshed: reload the worker list"}},
    openapi_extra={"x-envelope-205": "RefreshResult"},
)
async def refresh(
    use_cases: UseCasesDep, caller: Operator, scope: CallerScope, key: IdempotencyKey = None
) -> JSONResponse:
    """Ping and inspect every worker; those shown online that do not answer go offline."""
    return ok(await use_cases.workers.refresh(caller, key, scope), status_code=205)


add_commands(
    router,
    [
        Command("/shutdown", "shutdown", ShutdownArgs, Role.admin,
                response_model=Envelope[ShutdownResult], show=_shut_down,
                doc="Ask the named workers to shut down (warm: they finish their running "
                "tasks)."),
        Command("/ping", "ping", PingArgs),
        Command("/pool/grow", "pool_grow", PoolArgs),
        Command("/pool/shrink", "pool_shrink", PoolArgs),
        Command("/autoscale", "autoscale", AutoscaleArgs),
        Command("/consumers/add", "add_consumer", ConsumerArgs),
        Command("/consumers/cancel", "cancel_consumer", ConsumerArgs),
    ],
)  # fmt: skip
add_writes(
    router,
    Writes(WORKER, "worker_id", WorkerCreate, WorkerPatch, "celeryworker", Envelope[WorkerDetail]),
)


@router.get("/{worker_id}", response_model=Envelope[WorkerDetail])
async def get_worker(worker_id: Id, use_cases: UseCasesDep, scope: ViewerScope) -> JSONResponse:
    return ok({"celeryworker": await use_cases.workers.get(worker_id, scope)})
