"""Errors keep the envelope: oversized bodies, unknown ids, and the OpenAPI description."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from tests.integration.api.test_api_tasks import assert_error


async def test_an_oversized_body_is_413(client: httpx.AsyncClient) -> None:
    big = b'{"ides": ["' + b"x" * (1024 * 1024) + b'"]}'
    response = await client.post(
        "/monitor/tasks/revoke", content=big, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, "larger than 1048576 bytes")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted while reading
        for _ in range(300):
            yield b"x" * 4096

    response = await client.post("/monitor/tasks", content=chunks())
    assert_error(response, 413)


async def test_unknown_ids_are_404(client: httpx.AsyncClient) -> None:
    for method, path in [("GET", "/monitor/tasks/nope"), ("PATCH", "/monitor/tasks/nope"),
                         ("DELETE", "/monitor/tasks/nope"), ("GET", "/monitor/workers/nope"),
                         ("DELETE", "/monitor/workers/nope")]:  # fmt: skip
        body = {"name": "x"} if method == "PATCH" else None
        assert_error(await client.request(method, path, json=body), 404, "not found")


async def test_openapi_describes_every_route(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    operations = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    assert ("GET", "/monitor/workers/refresh") in operations
    assert ("POST", "/monitor/tasks/{task_id}/retry") in operations
    assert len(operations) >= 35
    refresh = schema["paths"]["/monitor/workers/refresh"]["get"]["responses"]["205"]
    assert "application/json" in refresh["content"]
    assert all("422" not in op["responses"] or op["responses"]["422"]["content"]
               for ops in schema["paths"].values() for op in ops.values())  # fmt: skip
