"""Liveness and readiness against real and missing dependencies."""

from __future__ import annotations

import asyncio
import socket

import httpx
from tasktrail_api.app import create_app
from tasktrail_api.settings import Settings

from tests.integration.api.support import ADMIN_TOKEN
from tests.integration.api.test_api_tasks import assert_error, assert_ok


async def test_live_and_ready(api: httpx.AsyncClient) -> None:
    assert assert_ok(await api.get("/healthz/")) == {"status": "ok", "checks": {}}
    assert assert_ok(await api.get("/readyz")) == {
        "status": "ok",
        "checks": {"mongo": True, "nats": True},
    }


async def test_without_mongo_not_ready_and_reads_are_503(settings: Settings) -> None:
    # A port we hold bound but never listen on: connections are refused, and no other
    # server can take it while the test runs.
    with socket.socket() as hold:
        hold.bind(("127.0.0.1", 0))
        dead = f"mongodb://127.0.0.1:{hold.getsockname()[1]}/?directConnection=true"
        await check_without_mongo(settings.model_copy(update={"mongo_url": dead}))


async def check_without_mongo(settings: Settings) -> None:
    timeouts = {"api_ready_timeout": 0.3, "api_read_timeout": 0.5}
    app = create_app(settings.model_copy(update=timeouts))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as api,
    ):
        assert_ok(await api.get("/healthz"))
        response = await api.get("/readyz")
        assert_error(response, 503, "not ready")
        assert response.json()["data"]["checks"] == {"mongo": False, "nats": True}
        # Reads fail as 503 once their time bound runs out.
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        paths = ("/monitor/tasks", "/monitor/tasks/dashboard", "/monitor/workers/x")
        responses = await asyncio.gather(*(api.get(p, headers=auth) for p in paths))
        for response in responses:
            assert_error(response, 503, "unavailable")


async def test_openapi_documents_every_route_and_both_token_forms(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    assert {
        "/monitor/tasks",
        "/monitor/tasks/dashboard",
        "/monitor/tasks/revoke",
        "/monitor/tasks/{task_id}",
        "/monitor/workers",
        "/monitor/workers/shutdown",
        "/monitor/workers/{worker_id}",
    } <= schema["paths"].keys()
    assert {"APIKeyHeader", "APIKeyQuery"} <= schema["components"]["securitySchemes"].keys()
    params = {p["name"] for p in schema["paths"]["/monitor/tasks"]["get"]["parameters"]}
    assert {"uuid", "status", "worker", "limit", "offset"} <= params
