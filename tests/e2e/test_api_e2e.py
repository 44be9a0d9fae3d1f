"""The API against the whole system as separate processes and a real Celery worker: writes
projected by the projector process, sync through control from the real result backend,
refresh, run and retry."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from celery import Celery
from tasktrail_devstack.servers import redis_db

from tests.e2e.test_pipeline import WORKER, Stack, stack  # noqa: F401
from tests.waiting import wait_until

pytestmark = pytest.mark.e2e


def call(s: Stack, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
    response = httpx.request(
        method, f"{s.api}{path}", headers={"Authorization": f"Bearer {s.token}"}, timeout=30,
        **kwargs,
    )  # fmt: skip
    assert response.status_code == status, response.text
    return response.json()["data"] if response.content else None


def test_writes_are_projected_by_the_projector_process(stack: Stack) -> None:  # noqa: F811
    task_id = str(uuid.uuid4())
    body = {"uuid": task_id, "name": "by.hand", "status": "p", "cidr_id": "c-9"}
    created = call(stack, "POST", "/monitor/tasks/", 201, json=body)
    assert created["celerytask"]["status"] == "PENDING"
    patched = call(stack, "PATCH", f"/monitor/tasks/{task_id}/", json={"status": "s"})
    assert patched["celerytask"]["status"] == "SUCCESS"
    assert [t["id"] for t in stack.get("/monitor/tasks/", cidr_id="c-9")["celery_tasks"]] == [
        task_id
    ]
    call(stack, "DELETE", f"/monitor/tasks/{task_id}/", 204)
    call(stack, "GET", f"/monitor/tasks/{task_id}/", 404)
    history = stack.get(f"/monitor/tasks/{task_id}/events/")["events"]
    assert [e["type"].rsplit(".", 1)[1] for e in history] == ["recorded", "amended", "deleted"]


def test_sync_reconciles_from_the_result_backend(stack: Stack, redis_url: str) -> None:  # noqa: F811
    task_id = str(uuid.uuid4())
    call(stack, "POST", "/monitor/tasks", 201, json={"uuid": task_id, "name": "demo.add"})
    backend = Celery("e2e-backend", broker=redis_db(redis_url, 7), backend=redis_db(redis_url, 8))
    try:
        backend.backend.store_result(task_id, 42, "SUCCESS")
    finally:
        backend.close()
    task = call(stack, "GET", f"/monitor/tasks/{task_id}?sync")["celerytask"]
    assert (task["status"], task["result"]) == ("SUCCESS", "42")
    entries = stack.get(f"/monitor/tasks/{task_id}/events")["events"]
    assert any(
        e["type"] == "tasktrail.command.requested" and e["actor"] == "admin" for e in entries
    )
    assert "numbers were synchronized." in call(stack, "GET", "/monitor/tasks/sync/")


def test_refresh_run_and_retry(stack: Stack) -> None:  # noqa: F811
    refreshed = call(stack, "GET", "/monitor/workers/refresh/", 205)
    assert WORKER in refreshed["expected"] and refreshed["workers"][WORKER]["status"] == "ok"
    new_id = call(stack, "POST", "/monitor/tasks/run", json={"name": "demo.add", "args": [2, 3]})[
        "task_id"
    ]
    done = wait_until(
        lambda: (
            (t := stack.get("/monitor/tasks/", uuid=new_id)["celery_tasks"])
            and t[0]["status"] == "SUCCESS"
            and t[0]
        ),
        what="the task run through the API to succeed",
    )
    assert done["result"] == "5"
    again = call(stack, "POST", f"/monitor/tasks/{new_id}/retry")["task_id"]
    assert again != new_id
    wait_until(
        lambda: (
            (t := stack.get("/monitor/tasks/", uuid=again)["celery_tasks"])
            and t[0]["status"] == "SUCCESS"
        ),
        what="the retried task to succeed",
    )
