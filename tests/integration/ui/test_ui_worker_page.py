"""The worker page: pool, queues and registered tasks from the worker's latest inspection
(as the projector keeps it), a clear note before any, and Inspect for operators."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.settings import Settings

from tests.integration.api.conftest import FakeControl
from tests.integration.api.support import Doc
from tests.integration.ui.conftest import Browser
from tests.integration.ui.test_ui_pages import (  # noqa: F401  (the fixture)
    SignIn,
    actions_in,
    assert_no_inline_code,
    seed,
    sign_in,
)

INSPECTED = {
    "at": datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
    # Celery's replies, as control records them (see test_control_celery's refresh test)
    "stats": {
        "pool": {"implementation": "celery.concurrency.prefork:TaskPool", "max-concurrency": 4,
                 "processes": [101, 102, 103, 104], "max-tasks-per-child": "N/A"},
        "prefetch_count": 16,
        "broker": {"transport": "redis"},
    },
    "active_queues": [{"name": "celery", "exchange": {"name": "celery"}}, {"name": "bulk"}],
    "registered": ["demo.mul", "demo.add [rate_limit=10/m]"],
    "active": [],
    "reserved": [],
}  # fmt: skip


async def test_the_pool_queues_and_tasks_of_an_inspected_worker(
    browser: Browser, db: AsyncDatabase[Doc], settings: Settings
) -> None:
    await seed(db, settings.app)
    await db.workers.update_one({"_id": "celery@w1"}, {"$set": {"inspected": INSPECTED}})
    response = await browser.get("/ui/workers/celery@w1")
    assert response.status_code == 200
    html = response.text
    assert_no_inline_code(html)
    assert 'data-pool="prefork"' in html and 'data-max-concurrency="4"' in html
    assert "101, 102, 103, 104" in html and 'datetime="2030-01-02T03:04:05' in html
    assert re.findall(r'data-queue="([^"]+)"', html) == ["bulk", "celery"]
    assert re.findall(r'data-registered="([^"]+)"', html) == [
        "demo.add [rate_limit=10/m]",
        "demo.mul",
    ]
    assert 'href="/ui/tasks?name=demo.add"' in html
    assert ("refresh" in actions_in(html)) is (browser.role != "viewer")
    never = (await browser.get("/ui/workers/celery@w2")).text
    assert 'data-profile="none"' in never and "Not inspected yet" in never


async def test_inspect_asks_that_worker_through_control(
    sign_in: SignIn,  # noqa: F811
    control: FakeControl,
) -> None:
    browser = await sign_in("operator")
    await browser.get("/ui/workers/celery@w1")
    done = await browser.post("/ui/workers/celery@w1/refresh")
    assert done.status_code == 200, done.text[:300]
    assert control.requests[-1].command == "refresh"
    assert control.requests[-1].args["names"] == ["celery@w1"]
    viewer = await sign_in("viewer")
    await viewer.get("/ui/workers/celery@w1")
    assert (await viewer.post("/ui/workers/celery@w1/refresh")).status_code == 403
