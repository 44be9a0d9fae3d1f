"""Writes go through the log: POST/PATCH/DELETE publish records, the real projector (running
in-process) applies them, and the answer is the projected document."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from tests.integration.api.support import Doc
from tests.integration.api.test_api_tasks import assert_error, assert_ok
from tests.unit.api.test_api_writes import SEED_CREATE

pytestmark = pytest.mark.usefixtures("projector")
TASK = SEED_CREATE["uuid"]


def created(response: httpx.Response) -> Any:
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["err"], body["err_code"], body["err_msg"]) == (False, 0, None)
    return body["data"]


async def test_create_patch_retrieve_list_delete_a_task(
    client: httpx.AsyncClient, db: AsyncDatabase[Doc]
) -> None:
    body = {**SEED_CREATE, "cidr_id": "ad3ead73", "asn_number": 123456, "queue": "unic_queue"}
    task = created(await client.post("/monitor/tasks/", json=body))["celerytask"]
    assert task["id"] == task["uuid"] == TASK
    assert task["status"] == "PENDING"  # no state given: a recorded task is pending
    assert task["received"] == "2022-08-30T10:43:46.758000Z"  # BSON keeps milliseconds
    assert (task["runtime"], task["worker"], task["kwargs"]) == (1.14053136, "woker_1", "")
    assert (task["cidr_id"], task["asn_number"]) == ("ad3ead73", 123456)
    assert task["parent_id"] == SEED_CREATE["parent_id"]

    patched = assert_ok(await client.patch(f"/monitor/tasks/{TASK}/", json={"status": "s"}))
    assert patched["celerytask"]["status"] == "SUCCESS"
    assert assert_ok(await client.get(f"/monitor/tasks/{TASK}"))["celerytask"]["status"] == (
        "SUCCESS"
    )
    filters: tuple[dict[str, Any], ...] = (
        {"cidr_id": "ad3ead73"},
        {"asn_number": "123456"},
        {"label.asn_number": "123456"},
        {"queue": "unic_queue", "status": "s"},
        {"parent_id": SEED_CREATE["parent_id"]},
        {"name": "function name"},
        {"published": "false", "parent_id": SEED_CREATE["parent_id"]},  # a narrow set
        {
            "received_after": "2022-08-30T10:43:46Z",
            "received_before": "2022-08-30T10:43:47Z",
            "sort": "-received",
        },
    )
    for params in filters:
        listed = assert_ok(await client.get("/monitor/tasks", params=params))
        assert [t["id"] for t in listed["celery_tasks"]] == [TASK], params
    assert assert_ok(await client.get("/monitor/tasks", params={"published": "1"}))["count"] == 0

    response = await client.delete(f"/monitor/tasks/{TASK}/")
    assert response.status_code == 204 and response.content == b""
    assert_error(await client.get(f"/monitor/tasks/{TASK}"), 404)
    # Only the parent it named is left: a task the projector knows from its child.
    left = assert_ok(await client.get("/monitor/tasks"))["celery_tasks"]
    assert [(t["id"], t["children"]) for t in left] == [(SEED_CREATE["parent_id"], [TASK])]
    for _ in range(50):  # the counters follow the projection within a sweep
        dashboard = assert_ok(await client.get("/monitor/tasks/dashboard"))
        if dashboard["task"]["task_success"] == 0:
            break
        await asyncio.sleep(0.1)
    assert dashboard["task"]["task_success"] == 0 and dashboard["task"]["task_pending"] == 1
    assert_error(await client.delete(f"/monitor/tasks/{TASK}"), 404)
    assert_error(await client.patch(f"/monitor/tasks/{TASK}", json={"status": "f"}), 404)
    doc = await db.tasks.find_one({"_id": TASK})
    assert doc is not None and doc["deleted"] is True  # hidden, not gone

    async def history() -> list[dict[str, Any]]:
        data = assert_ok(await client.get(f"/monitor/tasks/{TASK}/events"))
        return list(data["events"])

    for _ in range(50):
        entries = await history()
        if len(entries) == 3:
            break
        await asyncio.sleep(0.1)
    assert [(e["type"], e["actor"]) for e in entries] == [
        ("tasktrail.task.recorded", "admin"),
        ("tasktrail.task.amended", "admin"),
        ("tasktrail.task.deleted", "admin"),
    ]
    assert entries[1]["event"]["fields"] == {"state": "SUCCESS"}

    again = created(await client.post("/monitor/tasks", json={"uuid": TASK, "name": "back"}))
    assert again["celerytask"]["name"] == "back"  # a new record restores a deleted task


async def test_a_task_that_exists_cannot_be_created_again(client: httpx.AsyncClient) -> None:
    created(await client.post("/monitor/tasks", json={"uuid": "dup-1"}))
    assert_error(await client.post("/monitor/tasks", json={"uuid": "dup-1"}), 409, "PATCH")


async def test_a_task_without_uuid_gets_one(client: httpx.AsyncClient) -> None:
    task = created(await client.post("/monitor/tasks", json={"name": "n", "status": "t"}))
    assert len(task["celerytask"]["uuid"]) == 36 and task["celerytask"]["status"] == "STARTED"


async def test_labels_amend_and_clear(client: httpx.AsyncClient) -> None:
    created(await client.post("/monitor/tasks", json={"uuid": "l-1", "labels": {"zone": "eu"}}))
    assert assert_ok(await client.get("/monitor/tasks", params={"label.zone": "eu"}))["count"] == 1
    data = assert_ok(await client.patch("/monitor/tasks/l-1", json={"labels": {"zone": None}}))
    assert data["celerytask"]["labels"] == {}


async def test_create_patch_retrieve_list_delete_a_worker(client: httpx.AsyncClient) -> None:
    worker = created(
        await client.post("/monitor/workers/", json={"name": "celery@5414", "status": 0})
    )
    worker = worker["celeryworker"]
    assert (worker["name"], worker["status"]) == ("celery@5414", False)
    assert len(worker["id"]) == 36
    assert_error(await client.post("/monitor/workers", json={"name": "celery@5414"}), 409)

    patched = assert_ok(await client.patch(f"/monitor/workers/{worker['id']}/", json={"status": 1}))
    assert patched["celeryworker"]["status"] is True  # declared: it has never beaten
    online = assert_ok(await client.get("/monitor/workers", params={"status": 1}))
    assert [w["name"] for w in online["celery_workers"]] == ["celery@5414"]
    patched = assert_ok(await client.patch("/monitor/workers/celery@5414", json={"status": False}))
    assert patched["celeryworker"]["status"] is False
    patched = assert_ok(
        await client.patch("/monitor/workers/celery@5414", json={"processed": 5, "sw_ver": "5.4"})
    )
    assert (patched["celeryworker"]["processed"], patched["celeryworker"]["sw_ver"]) == (5, "5.4")

    got = assert_ok(await client.get(f"/monitor/workers/{worker['id']}"))["celeryworker"]
    assert got["processed"] == 5
    listed = assert_ok(await client.get("/monitor/workers", params={"status": 0}))
    assert [w["name"] for w in listed["celery_workers"]] == ["celery@5414"]
    listed = assert_ok(await client.get("/monitor/workers", params={"name": "celery@5414"}))
    assert listed["count"] == 1

    response = await client.delete(f"/monitor/workers/{worker['id']}")
    assert response.status_code == 204
    assert_error(await client.get("/monitor/workers/celery@5414"), 404)
    assert assert_ok(await client.get("/monitor/workers"))["count"] == 0


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("post", "/monitor/tasks", {"status": "DONE"}, "status"),
        ("post", "/monitor/tasks", {"received": "soon"}, "received"),
        ("post", "/monitor/tasks", {"kwargs": {"$set": 1}}, "kwargs"),
        ("post", "/monitor/tasks", {"children": []}, "children"),
        ("post", "/monitor/workers", {"name": "celery@x", "status": 7}, "status"),
        ("post", "/monitor/workers", {"status": 1}, "name"),
        ("patch", "/monitor/tasks/x", {}, "body"),
    ],
)
async def test_bad_write_bodies_are_400_naming_the_field(
    client: httpx.AsyncClient, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    message = assert_error(await client.request(method, path, json=body), 400)
    assert message.startswith(field), message


async def test_writes_need_the_admin_role(api: httpx.AsyncClient, db: AsyncDatabase[Doc]) -> None:
    from tests.integration.api.support import add_token

    await add_token(db, "op", "oncall", "operator")
    headers = {"Authorization": "Bearer op"}
    assert_error(await api.post("/monitor/tasks", json={}, headers=headers), 403, "admin")
    assert_error(await api.delete("/monitor/workers/x", headers=headers), 403, "admin")
