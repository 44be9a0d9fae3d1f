"""The REST entrypoint: settings in, a FastAPI app out; its lifespan opens the adapters and
wires the use cases (``bootstrap``), and owns the clients until shutdown."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from pydantic import TypeAdapter
from tasktrail_shared import process_metrics

from tasktrail_api.adapters.alerts import MongoAlertStore, NatsChannelTester
from tasktrail_api.adapters.changes import ChangeFeed
from tasktrail_api.adapters.clock import SystemClock
from tasktrail_api.adapters.commands import CommandClient, close_nats, open_nats
from tasktrail_api.adapters.figures import StoredFigures
from tasktrail_api.adapters.publisher import JetStreamPublisher
from tasktrail_api.adapters.readmodels import MongoReadModels, open_read_models
from tasktrail_api.adapters.schedules import MongoScheduleReads
from tasktrail_api.bootstrap import bootstrap
from tasktrail_api.envelope import ERROR_DESCRIPTIONS, Envelope, ErrorEnvelope, install_handlers
from tasktrail_api.middleware import LimitBody, StripTrailingSlash
from tasktrail_api.routes import (
    alerts,
    catalog,
    ctrl_api,
    events,
    health,
    metrics,
    orgs,
    queues,
    scheduler_reports,
    schedulers,
    stats,
    tasks,
    tokens,
    workers,
)
from tasktrail_api.schemas import RefreshResult
from tasktrail_api.settings import Settings
from tasktrail_api.ui import setup as ui

log = logging.getLogger(__name__)


async def _ensure_indexes(read_models: MongoReadModels) -> None:
    """In the background: a large collection's index build must not hold up start-up."""
    try:
        await read_models.ensure_indexes()
    except Exception as exc:  # the API still serves; lists are slower until a restart
        log.warning("could not create the read-model indexes: %s", exc)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": description}
    for status, description in ERROR_DESCRIPTIONS.items()
}


def _document_205(schema: dict[str, Any]) -> None:
    """FastAPI refuses to describe a body on 205 (RFC 9110 says it has none); the seed's
    refresh answers 205 with the envelope all the same, so describe it here."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            if operation.pop("x-envelope-205", None) is None:
                continue
            body = TypeAdapter(Envelope[RefreshResult]).json_schema(
                ref_template="#/components/schemas/{model}"
            )
            for name, definition in body.pop("$defs", {}).items():
                components.setdefault(name, definition)
            operation["responses"]["205"]["content"] = {"application/json": {"schema": body}}


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            read_models = open_read_models(
                settings.mongo_url, settings.mongo_db, settings.api_read_timeout
            )
            stack.push_async_callback(read_models.close)
            indexing = asyncio.create_task(_ensure_indexes(read_models))
            nc = await open_nats(settings.nats_url, settings.app)
            stack.push_async_callback(close_nats, nc)
            use_cases = bootstrap(
                settings,
                read_models=read_models,
                schedule_reads=MongoScheduleReads(read_models),
                token_store=read_models,
                catalog_keys=read_models,
                publisher=JetStreamPublisher(
                    nc, app=settings.app, timeout=settings.api_command_timeout
                ),
                sender=CommandClient(nc, timeout=settings.api_command_timeout),
                clock=SystemClock(),
                alert_store=MongoAlertStore(read_models.database),
                channel_tester=NatsChannelTester(nc, timeout=settings.api_alert_test_timeout),
                figures=StoredFigures(
                    read_models, nc, stream=settings.stream, timeout=settings.api_command_timeout
                ),
                process=process_metrics.figures,
            )
            app.state.use_cases = use_cases
            app.state.indexing = indexing
            await stack.enter_async_context(ui.running(app, ChangeFeed(nc)))
            yield

    app = FastAPI(
        title="tasktrail",
        summary="Celery task and worker monitoring and control",
        description="Every answer is the envelope {err, err_code, err_msg, data}; see docs/api.md.",
        version="0.1.0",
        lifespan=lifespan,
        redirect_slashes=False,
        responses=ERROR_RESPONSES,
    )
    openapi = app.openapi

    def described() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document_205(openapi())
        return openapi()

    app.openapi = described  # type: ignore[method-assign]
    install_handlers(app)
    app.add_middleware(StripTrailingSlash)
    app.add_middleware(LimitBody, limit=settings.api_max_body)
    for module in (
        health, tasks, workers, queues, events, tokens, orgs, stats, catalog, ctrl_api, alerts,
        schedulers, scheduler_reports, metrics,
    ):  # fmt: skip
        app.include_router(module.router)
    ui.install(app, settings)
    return app
