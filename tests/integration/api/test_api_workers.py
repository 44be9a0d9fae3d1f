"""``/monitor/workers`` against a real MongoDB-wire server."""

from __future__ import annotations

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from tests.integration.api.support import Doc, worker_doc
from tests.integration.api.test_api_tasks import assert_error, assert_ok


@pytest.fixture
async def workers(db: AsyncDatabase[Doc]) -> list[Doc]:
    docs = [
        worker_doc("celery@b", online=True, active=2, processed=7),
        worker_doc("celery@a", online=False, processed=3),
        worker_doc("celery@c", online=True),
    ]
    await db.workers.insert_many(docs)
    return docs


async def test_list(client: httpx.AsyncClient, workers: list[Doc]) -> None:
    data = assert_ok(await client.get("/monitor/workers/"))
    assert [(w["name"], w["status"]) for w in data["celery_workers"]] == [
        ("celery@a", False),
        ("celery@b", True),
        ("celery@c", True),
    ]
    assert data["count"] == 3
    b = data["celery_workers"][1]
    assert b["id"] == workers[0]["id"]
    assert (b["active"], b["processed"], b["freq"], b["sw_ver"]) == (2, 7, 2.0, "5.4.0")
    assert b["loadavg"] == [1.13, 1.24, 1.08]
    assert b["last_heartbeat"].endswith("Z")
    assert not [key for key in b if key.startswith("_")]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "1"}, ["celery@b", "celery@c"]),
        ({"status": "true"}, ["celery@b", "celery@c"]),
        ({"status": "0"}, ["celery@a"]),
        ({"status": "false"}, ["celery@a"]),
        ({"name": "celery@b"}, ["celery@b"]),
        ({"name": "celery@b", "status": "0"}, []),
        ({"limit": 1, "offset": 1}, ["celery@b"]),
    ],
)
async def test_filters(
    client: httpx.AsyncClient, workers: list[Doc], params: dict[str, str], expected: list[str]
) -> None:
    data = assert_ok(await client.get("/monitor/workers", params=params))
    assert [w["name"] for w in data["celery_workers"]] == expected


async def test_a_bad_status_is_400(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/monitor/workers", params={"status": "maybe"}), 400, "status")


async def test_one_worker_by_id_or_hostname(client: httpx.AsyncClient, workers: list[Doc]) -> None:
    by_id = assert_ok(await client.get(f"/monitor/workers/{workers[0]['id']}/"))["celeryworker"]
    by_name = assert_ok(await client.get("/monitor/workers/celery@b"))["celeryworker"]
    assert by_id == by_name
    assert (by_id["name"], by_id["status"]) == ("celery@b", True)


async def test_an_unknown_worker_is_404(client: httpx.AsyncClient, workers: list[Doc]) -> None:
    assert_error(await client.get("/monitor/workers/celery@zzz"), 404, "worker not found")
