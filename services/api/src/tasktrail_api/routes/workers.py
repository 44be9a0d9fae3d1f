"""``/monitor/workers``: queries, writes through the log, refresh, shutdown and pool commands.

Fixed paths (``/refresh``, ``/shutdown``, ``/pool/...``) come before ``/{worker_id}``.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response
from tasktrail_shared import mongo, own_events
from tasktrail_shared.commands import CommandName

from tasktrail_api import queries, serializers, writes
from tasktrail_api.adapters.readmodels import Doc
from tasktrail_api.auth import Admin, Operator, Viewer
from tasktrail_api.deps import CommandsDep, EventLogDep, ReadModelsDep, SettingsDep
from tasktrail_api.envelope import Envelope, ok
from tasktrail_api.errors import conflict, not_found
from tasktrail_api.routes.common import ACCEPTED_RESPONSE, accepted, publish_and_wait, send_command
from tasktrail_api.schemas import (
    AutoscaleRequest,
    CommandResult,
    ConsumerRequest,
    NamesRequest,
    PoolRequest,
    ShutdownRequest,
    ShutdownResult,
    WorkerDetail,
    WorkerList,
)

router = APIRouter(prefix="/monitor/workers", tags=["workers"])
WorkerId = Annotated[str, Path(min_length=1, max_length=255)]
WRITE_PROJECTION = {**queries.WORKER_PROJECTION, **writes.APPLIED_PROJECTION}
MAX_EXPECTED = 10_000


@router.get("", response_model=Envelope[WorkerList])
async def list_workers(
    filters: Annotated[queries.WorkerFilters, Query()], read_models: ReadModelsDep, _: Viewer
) -> JSONResponse:
    now = datetime.now(UTC)
    query = queries.worker_query(filters, now)
    docs, count = await read_models.page(
        mongo.WORKERS,
        query,
        read_models.find(
            mongo.WORKERS, query, queries.WORKER_PROJECTION, queries.WORKER_SORT,
            skip=filters.offset, limit=filters.limit,
        ),
    )  # fmt: skip
    return ok({"celery_workers": [serializers.worker(d, now) for d in docs], "count": count})


@router.get(
    "/refresh",
    status_code=205,
    response_model=None,
    responses={205: {"description": "Refreshed: reload the worker list"}},
    openapi_extra={"x-envelope-205": "RefreshResult"},
)
async def refresh(
    read_models: ReadModelsDep, commands: CommandsDep, principal: Operator
) -> JSONResponse:
    """Ping and inspect every worker; those shown online that do not answer go offline."""
    online = await read_models.ids(
        mongo.WORKERS, queries.online_workers(datetime.now(UTC)), MAX_EXPECTED
    )
    reply = await send_command(commands, "refresh", {"names": None, "expected": online}, principal)
    response = ok({**serializers.command_result(reply), "expected": online})
    response.status_code = 205
    return response


@router.post("/shutdown", response_model=Envelope[ShutdownResult])
async def shutdown(body: ShutdownRequest, commands: CommandsDep, principal: Admin) -> JSONResponse:
    """Ask the named workers to shut down (warm: they finish their running tasks)."""
    reply = await send_command(commands, "shutdown", {"names": body.names}, principal)
    return ok(serializers.shutdown_result(reply))


async def _command(
    command: CommandName, body: NamesRequest, commands: CommandsDep, principal: Operator
) -> JSONResponse:
    reply = await send_command(commands, command, body.model_dump(mode="json"), principal)
    return ok(serializers.command_result(reply))


@router.post("/ping", response_model=Envelope[CommandResult])
async def ping(body: NamesRequest, commands: CommandsDep, principal: Operator) -> JSONResponse:
    return await _command("ping", body, commands, principal)


@router.post("/pool/grow", response_model=Envelope[CommandResult])
async def pool_grow(body: PoolRequest, commands: CommandsDep, principal: Operator) -> JSONResponse:
    return await _command("pool_grow", body, commands, principal)


@router.post("/pool/shrink", response_model=Envelope[CommandResult])
async def pool_shrink(
    body: PoolRequest, commands: CommandsDep, principal: Operator
) -> JSONResponse:
    return await _command("pool_shrink", body, commands, principal)


@router.post("/autoscale", response_model=Envelope[CommandResult])
async def autoscale(
    body: AutoscaleRequest, commands: CommandsDep, principal: Operator
) -> JSONResponse:
    return await _command("autoscale", body, commands, principal)


@router.post("/consumers/add", response_model=Envelope[CommandResult])
async def add_consumer(
    body: ConsumerRequest, commands: CommandsDep, principal: Operator
) -> JSONResponse:
    return await _command("add_consumer", body, commands, principal)


@router.post("/consumers/cancel", response_model=Envelope[CommandResult])
async def cancel_consumer(
    body: ConsumerRequest, commands: CommandsDep, principal: Operator
) -> JSONResponse:
    return await _command("cancel_consumer", body, commands, principal)


@router.post(
    "",
    status_code=201,
    response_model=Envelope[WorkerDetail],
    responses={**ACCEPTED_RESPONSE, 409: {"description": "The worker exists"}},
)
async def create_worker(
    body: writes.WorkerCreate,
    settings: SettingsDep,
    read_models: ReadModelsDep,
    event_log: EventLogDep,
    principal: Admin,
) -> JSONResponse:
    """Record a worker by hand (``tasktrail.worker.recorded``); a declared ``status`` holds
    until the worker itself shows a sign."""
    hostname = body.name
    held = await read_models.one(mongo.WORKERS, {"_id": hostname}, {"deleted": 1})
    if held is not None and held.get("deleted") is not True:
        raise conflict(f"worker {hostname} exists; PATCH it instead")
    fields = body.record_fields(keep_nulls=False)
    payload = writes.payload(
        own_events.WORKER_RECORDED, at=time.time(), actor=principal.name, hostname=hostname,
        fields=fields,
    )  # fmt: skip
    outcome = await publish_and_wait(
        event_log,
        own_events.WORKER_RECORDED,
        payload,
        lambda: read_models.one(mongo.WORKERS, {"_id": hostname}, WRITE_PROJECTION),
        lambda doc, event_id: writes.applied(doc, "recorded", event_id, fields, target="worker"),
        settings.api_write_wait,
    )
    if not outcome.applied or outcome.doc is None:
        return accepted(outcome.published)
    response = ok({"celeryworker": serializers.worker(outcome.doc, datetime.now(UTC))})
    response.status_code = 201
    return response


async def _live_worker(read_models: ReadModelsDep, worker_id: str) -> Doc:
    doc = await read_models.get_worker(worker_id, {**queries.WORKER_PROJECTION, "deleted": 1})
    if doc is None or doc.get("deleted") is True:
        raise not_found("worker")
    return doc


@router.get("/{worker_id}", response_model=Envelope[WorkerDetail])
async def get_worker(worker_id: WorkerId, read_models: ReadModelsDep, _: Viewer) -> JSONResponse:
    doc = await _live_worker(read_models, worker_id)
    return ok({"celeryworker": serializers.worker(doc, datetime.now(UTC))})


@router.patch("/{worker_id}", response_model=Envelope[WorkerDetail], responses=ACCEPTED_RESPONSE)
async def patch_worker(
    worker_id: WorkerId,
    body: writes.WorkerPatch,
    settings: SettingsDep,
    read_models: ReadModelsDep,
    event_log: EventLogDep,
    principal: Admin,
) -> JSONResponse:
    """Amend recorded fields (``tasktrail.worker.amended``); ``status`` declares the worker
    online or offline until it next shows a sign (see docs/api.md)."""
    doc = await _live_worker(read_models, worker_id)
    hostname = str(doc["_id"])
    fields = body.record_fields(keep_nulls=True)
    if not fields:
        return ok({"celeryworker": serializers.worker(doc, datetime.now(UTC))})
    payload = writes.payload(
        own_events.WORKER_AMENDED, at=time.time(), actor=principal.name, hostname=hostname,
        fields=fields,
    )  # fmt: skip
    outcome = await publish_and_wait(
        event_log,
        own_events.WORKER_AMENDED,
        payload,
        lambda: read_models.one(mongo.WORKERS, {"_id": hostname}, WRITE_PROJECTION),
        lambda doc, event_id: writes.applied(doc, "amended", event_id, fields, target="worker"),
        settings.api_write_wait,
    )
    if not outcome.applied or outcome.doc is None:
        return accepted(outcome.published)
    return ok({"celeryworker": serializers.worker(outcome.doc, datetime.now(UTC))})


@router.delete(
    "/{worker_id}", status_code=204, response_class=Response, responses=ACCEPTED_RESPONSE
)
async def delete_worker(
    worker_id: WorkerId,
    settings: SettingsDep,
    read_models: ReadModelsDep,
    event_log: EventLogDep,
    principal: Admin,
) -> Response:
    """Hide the worker (``tasktrail.worker.deleted``) until it starts again or is recorded."""
    doc = await _live_worker(read_models, worker_id)
    hostname = str(doc["_id"])
    payload = writes.payload(
        own_events.WORKER_DELETED, at=time.time(), actor=principal.name, hostname=hostname
    )
    outcome = await publish_and_wait(
        event_log,
        own_events.WORKER_DELETED,
        payload,
        lambda: read_models.one(mongo.WORKERS, {"_id": hostname}, {"deleted": 1}),
        lambda doc, event_id: writes.applied(doc, "deleted", event_id, {}),
        settings.api_write_wait,
    )
    if not outcome.applied:
        return accepted(outcome.published)
    return Response(status_code=204)
