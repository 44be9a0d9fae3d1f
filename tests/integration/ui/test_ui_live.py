"""Live pages end to end in one process: a write goes through the log and the real projector,
whose change notice reaches the API over NATS and comes out of the browser's event stream as
the task's row; a reconnect with Last-Event-ID gets what it missed."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from tasktrail_api.app import create_app
from tasktrail_api.settings import Settings
from tasktrail_devstack.servers import free_port

from tests.integration.api.support import ADMIN_TOKEN

pytestmark = pytest.mark.usefixtures("projector")
TASK_ID = re.compile(r'data-task-id="([^"]+)"')


@pytest.fixture
async def served(settings: Settings) -> AsyncIterator[str]:
    """The app behind a real HTTP server (event streams need one), as its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings.model_copy(update={"ui_push_interval": 0.05})),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    running = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await running


@contextlib.asynccontextmanager
async def session(base: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        login = {"token": ADMIN_TOKEN}
        response = await client.post("/ui/login", data=login, headers={"Origin": base})
        assert response.status_code == 303
        yield client


async def events_until(
    response: httpx.Response, wanted: str, timeout: float = 20
) -> list[tuple[str, str, str]]:
    """``(event, id, data)`` read from the stream until one named ``wanted`` arrives."""
    seen: list[tuple[str, str, str]] = []
    name, event_id, data = "", "", []
    async with asyncio.timeout(timeout):
        async for line in response.aiter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("id: "):
                event_id = line[4:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and name:
                seen.append((name, event_id, "\n".join(data)))
                if name == wanted:
                    return seen
                name, data = "", []
    raise AssertionError(f"the stream ended before a {wanted!r} event: {seen}")


async def record(base: str, name: str, **fields: str) -> str:
    task_id = str(uuid.uuid4())
    async with httpx.AsyncClient(base_url=base, timeout=10) as api:
        response = await api.post(
            "/monitor/tasks",
            json={"uuid": task_id, "name": name, **fields},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
    assert response.status_code == 201, response.text
    return task_id


async def test_a_projected_change_is_pushed_as_its_row(served: str) -> None:
    async with (
        session(served) as client,
        client.stream("GET", "/ui/live?view=tasks&name=live.demo") as stream,
    ):
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        await asyncio.sleep(0.2)
        other = await record(served, "other.name")
        task_id = await record(served, "live.demo")
        seen = await events_until(stream, "rows")
    _, _, html = seen[-1]
    assert f'data-task-id="{task_id}"' in html and 'data-status="PENDING"' in html
    assert other not in html  # the list's filters apply to what is pushed


async def test_a_reconnect_resumes_after_its_last_event(served: str) -> None:
    async with session(served) as client:
        async with client.stream("GET", "/ui/live?view=tasks") as stream:
            await asyncio.sleep(0.2)
            first = await record(served, "first")
            (_, last_id, html) = (await events_until(stream, "rows"))[-1]
            assert first in html
        missed = await record(served, "while.away")
        await asyncio.sleep(1.0)  # the change reaches the hub while no browser listens
        headers = {"Last-Event-ID": last_id}
        async with client.stream("GET", "/ui/live?view=tasks", headers=headers) as stream:
            (_, _, html) = (await events_until(stream, "rows"))[-1]
        assert missed in html and first not in html
        headers = {"Last-Event-ID": "unknown.1"}
        async with client.stream("GET", "/ui/live?view=tasks", headers=headers) as stream:
            assert (await events_until(stream, "reload"))[-1][0] == "reload"


async def test_the_stream_needs_a_session(served: str) -> None:
    async with httpx.AsyncClient(base_url=served) as anonymous:
        response = await anonymous.get("/ui/live?view=tasks")
    assert response.status_code == 303


async def test_a_push_to_a_first_page_carries_at_most_a_page_of_rows(served: str) -> None:
    """Past a page of changed rows, the rest rank below them: no reload of a first page would
    show them, so its push leaves them out; a later page's push keeps every row."""
    tasks = "/ui/live?view=tasks&name=paged.demo&limit=2"
    async with session(served) as client:
        async with client.stream("GET", tasks) as stream:
            await asyncio.sleep(0.2)
            await record(served, "paged.demo")
            (_, last_id, _) = (await events_until(stream, "rows"))[-1]
        oldest, middle, newest = [
            await record(served, "paged.demo", timestamp=f"2030-01-01T00:00:0{second}Z")
            for second in range(3)
        ]
        await asyncio.sleep(1.0)  # the changes reach the hub while no browser listens
        headers = {"Last-Event-ID": last_id}
        async with client.stream("GET", tasks, headers=headers) as stream:
            (_, _, first_page) = (await events_until(stream, "rows"))[-1]
        async with client.stream("GET", f"{tasks}&offset=2", headers=headers) as stream:
            (_, _, later_page) = (await events_until(stream, "rows"))[-1]
    assert TASK_ID.findall(first_page) == [newest, middle]
    assert TASK_ID.findall(later_page) == [newest, middle, oldest]
