"""``/monitor/tasks`` against a real MongoDB-wire server."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from tests.integration.api.support import Doc, count_tasks, task_doc, worker_doc

SEED_TASK_KEYS = {
    "id", "name", "uuid", "status", "args", "kwargs", "result", "received", "started",
    "succeeded", "retries", "runtime", "exception", "traceback", "worker", "root_id",
    "parent_id", "children",
}  # fmt: skip


def assert_ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body.keys() == {"err", "err_code", "err_msg", "data"}
    assert (body["err"], body["err_code"], body["err_msg"]) == (False, 0, None)
    return body["data"]


def assert_error(response: httpx.Response, status: int, *words: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["err"] is True and body["err_code"] == status
    for word in words:
        assert word in body["err_msg"]
    return str(body["err_msg"])


@pytest.fixture
async def tasks(db: AsyncDatabase[Doc]) -> list[Doc]:
    docs = [
        task_doc("t-1", "SUCCESS", age=1, children=["t-2", "t-3"]),
        task_doc("t-2", "FAILURE", age=2, parent_id="t-1", root_id="t-1",
                 exception="ValueError('x')", traceback="Traceback ..."),
        task_doc("t-3", "STARTED", age=3, parent_id="t-1", root_id="t-1", worker="celery@w2"),
        task_doc("t-4", "PENDING", age=4, name="other.task", queue="fast", app="eu"),
        task_doc("t-5", "RETRY", age=4, name="other.task", queue="fast"),
        task_doc("t-6", "REVOKED", age=5),
        task_doc("t-7", "RECEIVED", age=6),
    ]  # fmt: skip
    await db.tasks.insert_many(docs)
    await count_tasks(db)
    return docs


async def test_list_is_newest_first_with_a_total(
    client: httpx.AsyncClient, tasks: list[Doc]
) -> None:
    data = assert_ok(await client.get("/monitor/tasks"))
    ids = [t["id"] for t in data["celery_tasks"]]
    # t-4 and t-5 share a timestamp: the id breaks the tie, in the same direction.
    assert ids == ["t-1", "t-2", "t-3", "t-5", "t-4", "t-6", "t-7"]
    assert data["count"] == 7
    first = data["celery_tasks"][0]
    assert first.keys() >= SEED_TASK_KEYS
    assert not [key for key in first if key.startswith("_")]
    assert first["status"] == "SUCCESS"
    assert first["children"] == ["t-2", "t-3"]
    assert first["succeeded"] == "2022-08-30T10:43:45.758000Z"
    assert "exchange" not in first


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"uuid": "t-3"}, ["t-3"]),
        ({"status": "FAILURE"}, ["t-2"]),
        ({"status": "failure"}, ["t-2"]),
        ({"status": "PENDING,RETRY"}, ["t-5", "t-4"]),
        ({"status": "p,y"}, ["t-5", "t-4"]),
        ({"name": "other.task"}, ["t-5", "t-4"]),
        ({"worker": "celery@w2"}, ["t-3"]),
        ({"parent_id": "t-1"}, ["t-2", "t-3"]),
        ({"root_id": "t-1"}, ["t-1", "t-2", "t-3"]),
        ({"queue": "fast"}, ["t-5", "t-4"]),
        ({"app": "eu"}, ["t-4"]),
        ({"queue": "fast", "app": "default"}, ["t-5"]),
        ({"status": "", "uuid": ""}, ["t-1", "t-2", "t-3", "t-5", "t-4", "t-6", "t-7"]),
        ({"uuid": "nope"}, []),
    ],
)
async def test_filters(
    client: httpx.AsyncClient, tasks: list[Doc], params: dict[str, str], expected: list[str]
) -> None:
    data = assert_ok(await client.get("/monitor/tasks", params=params))
    assert [t["id"] for t in data["celery_tasks"]] == expected
    assert data["count"] == len(expected)


async def test_pagination(client: httpx.AsyncClient, tasks: list[Doc]) -> None:
    data = assert_ok(await client.get("/monitor/tasks", params={"limit": 2, "offset": 3}))
    assert [t["id"] for t in data["celery_tasks"]] == ["t-5", "t-4"]
    assert data["count"] == 7
    data = assert_ok(await client.get("/monitor/tasks", params={"offset": 50}))
    assert data == {"celery_tasks": [], "count": 7, "count_is_exact": True, "next_cursor": None}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "many"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 10_001}, "offset"),
        ({"status": "DONE"}, "status"),
    ],
)
async def test_bad_params_are_400_naming_the_field(
    client: httpx.AsyncClient, params: dict[str, Any], field: str
) -> None:
    response = await client.get("/monitor/tasks", params=params)
    message = assert_error(response, 400, field)
    assert response.json()["data"]["errors"][0]["field"] == field
    assert message.startswith(f"{field}: ")


async def test_one_task(client: httpx.AsyncClient, tasks: list[Doc]) -> None:
    data = assert_ok(await client.get("/monitor/tasks/t-2"))
    task = data["celerytask"]
    assert (task["id"], task["status"], task["exception"]) == ("t-2", "FAILURE", "ValueError('x')")
    assert task["failed"] == "2022-08-30T10:43:44.758000Z"
    assert not [key for key in task if key.startswith("_")]


async def test_an_unknown_task_is_404(client: httpx.AsyncClient, tasks: list[Doc]) -> None:
    assert_error(await client.get("/monitor/tasks/nope"), 404, "task not found")


@pytest.mark.parametrize(
    "path", ["/monitor/tasks", "/monitor/tasks/", "/monitor/tasks/t-1", "/monitor/tasks/t-1/",
             "/monitor/tasks/dashboard", "/monitor/tasks/dashboard/"],
)  # fmt: skip
async def test_the_trailing_slash_is_optional(
    client: httpx.AsyncClient, tasks: list[Doc], path: str
) -> None:
    response = await client.get(path)
    assert_ok(response)
    assert not response.history


async def test_dashboard_counts(
    client: httpx.AsyncClient, db: AsyncDatabase[Doc], tasks: list[Doc]
) -> None:
    await db.tasks.insert_many([task_doc(f"s-{i}", "SUCCESS") for i in range(3)])
    await count_tasks(db)
    await db.workers.insert_many(
        [
            worker_doc("celery@w1", online=True, active=3, processed=10),
            worker_doc("celery@w2", online=True, active=1, processed=5),
            worker_doc("celery@w3", online=False, active=9, processed=100),
        ]
    )
    data = assert_ok(await client.get("/monitor/tasks/dashboard"))
    assert data == {
        "worker": {
            "worker_online": 2,
            "worker_offline": 1,
            "worker_task_active": 4,
            "worker_task_processed": 115,
        },
        "task": {
            "task_pending": 1,
            "task_received": 1,
            "task_started": 1,
            "task_success": 4,
            "task_failed": 1,
            "task_revoked": 1,
            "task_retried": 1,
        },
    }


async def test_an_empty_dashboard(client: httpx.AsyncClient) -> None:
    data = assert_ok(await client.get("/monitor/tasks/dashboard"))
    assert data["worker"]["worker_online"] == 0 and data["task"]["task_success"] == 0


async def test_unknown_routes_and_methods_use_the_envelope(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/monitor/nothing"), 404)
    assert_error(await client.put("/monitor/tasks/t-1"), 405)
    assert_error(await client.get("/monitor/tasks/revoke/extra/path"), 404)
