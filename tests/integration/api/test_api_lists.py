"""Sorting, stable cursors, totals, and an index behind every filter and sort (``explain``)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.domain.cursor import Cursor
from tasktrail_api.domain.filters import TaskFilters, WorkerFilters
from tasktrail_api.domain.plan import SORT_KEYS, Segment, Sort, segments, task_query, worker_query
from tasktrail_shared import mongo

from tests.integration.api.support import T0, Doc, create_api_indexes, task_doc
from tests.integration.api.test_api_tasks import assert_error, assert_ok

N = 60


@pytest.fixture
async def many(db: AsyncDatabase[Doc]) -> list[Doc]:
    """Tasks with ties and missing values in every sortable field."""
    rng = random.Random(7)
    docs = []
    for i in range(N):
        state = rng.choice(["SUCCESS", "FAILURE", "STARTED", "PENDING"])
        doc = task_doc(f"t-{i:03d}", state, age=rng.randrange(0, 8))
        doc["received"] = None if i % 5 == 0 else doc["received"]
        doc["runtime"] = None if i % 4 == 0 else rng.choice([0.5, 1.0, 2.0])
        doc["name"] = None if i % 7 == 0 else rng.choice(["a.x", "b.y", "c.z"])
        doc["sent"] = None if i % 3 == 0 else doc["sent"]
        doc["labels"] = {"cidr_id": f"c{i % 3}", "asn_number": 100 + i % 2}
        doc["deleted"] = i % 11 == 0
        docs.append(doc)
    await db.tasks.insert_many(docs)
    await create_api_indexes(db)
    return [d for d in docs if not d["deleted"]]


def expected_order(docs: list[Doc], sort: str) -> list[str]:
    key, descending = sort.removeprefix("-"), sort.startswith("-")
    valued = [d for d in docs if d.get(key) is not None]
    missing = [d for d in docs if d.get(key) is None]
    valued.sort(key=lambda d: (d[key], d["_id"]), reverse=descending)
    missing.sort(key=lambda d: d["_id"], reverse=descending)
    ordered = valued + missing if descending else missing + valued
    return [d["_id"] for d in ordered]


SORTS = ["-timestamp", "timestamp", "-received", "received", "started", "-succeeded", "runtime",
         "-runtime", "name", "-name"]  # fmt: skip


async def walk(client: httpx.AsyncClient, sort: str, limit: int, total: int) -> list[str]:
    """Every task id, following ``next_cursor`` page by page; each page counts ``total``."""
    seen: list[str] = []
    params: dict[str, Any] = {"sort": sort, "limit": limit}
    while True:
        data = assert_ok(await client.get("/monitor/tasks", params=params))
        assert data["count"] == total
        seen += [t["id"] for t in data["celery_tasks"]]
        if data["next_cursor"] is None:
            return seen
        params["cursor"] = data["next_cursor"]


@pytest.mark.parametrize("sort", SORTS)
async def test_cursor_pages_walk_the_whole_sort_once(
    client: httpx.AsyncClient, many: list[Doc], sort: str
) -> None:
    seen = await walk(client, sort, 7, len(many))
    assert seen == expected_order(many, sort)
    offset = assert_ok(
        await client.get("/monitor/tasks", params={"sort": sort, "offset": 7, "limit": 7})
    )
    assert [t["id"] for t in offset["celery_tasks"]] == seen[7:14]


@pytest.mark.parametrize("sort", ["-timestamp", "-received"])
async def test_newest_first_pages_read_back_in_windows_and_miss_nothing(
    client: httpx.AsyncClient, db: AsyncDatabase[Doc], sort: str
) -> None:
    """Recent tasks, spread over the windows (1 s ... years, one in the future, some
    without the key): newest-first pages walk them all once, in order."""
    now_offset = (T0 - datetime.now(UTC)).total_seconds()  # age that means "now"
    ages = [-120, 0, 0.5, 5, 7, 9, 63, 65, 479, 481, 3600, 30000, 2e6, 1.5e7, 2e8, 2e8]
    docs = []
    for i, age in enumerate(ages):
        doc = task_doc(f"w-{i:02d}", age=now_offset + age)
        doc["received"] = None if i % 6 == 5 else doc["received"]
        docs.append(doc)
    await db.tasks.insert_many(docs)
    await create_api_indexes(db)
    assert await walk(client, sort, 3, len(docs)) == expected_order(docs, sort)
    recent = {"sort": sort, "timestamp_after": (datetime.now(UTC) - timedelta(hours=2)).isoformat()}
    data = assert_ok(await client.get("/monitor/tasks", params={**recent, "limit": 100}))
    wanted = [d for d in docs if d["timestamp"] >= datetime.now(UTC) - timedelta(hours=2)]
    assert [t["id"] for t in data["celery_tasks"]] == expected_order(wanted, sort)


async def test_a_cursor_survives_new_tasks(
    client: httpx.AsyncClient, db: AsyncDatabase[Doc], many: list[Doc]
) -> None:
    first = assert_ok(await client.get("/monitor/tasks", params={"limit": 10}))
    await db.tasks.insert_one(task_doc("new", age=-100))  # newer than everything
    rest = assert_ok(
        await client.get("/monitor/tasks", params={"limit": 1000, "cursor": first["next_cursor"]})
    )
    ids = [t["id"] for t in first["celery_tasks"] + rest["celery_tasks"]]
    assert ids == expected_order(many, "-timestamp")


async def test_filtered_and_sorted_with_totals(client: httpx.AsyncClient, many: list[Doc]) -> None:
    params: dict[str, str | int] = {
        "status": "FAILURE",
        "sort": "-received",
        "cidr_id": "c1",
        "limit": 3,
    }
    data = assert_ok(await client.get("/monitor/tasks", params=params))
    wanted = [d for d in many if d["state"] == "FAILURE" and d["labels"]["cidr_id"] == "c1"]
    assert data["count"] == len(wanted)
    assert [t["id"] for t in data["celery_tasks"]] == expected_order(wanted, "-received")[:3]
    numbers = assert_ok(await client.get("/monitor/tasks", params={"asn_number": 101}))
    assert numbers["count"] == len([d for d in many if d["labels"]["asn_number"] == 101])


@pytest.mark.parametrize(
    ("params", "words"),
    [({"cursor": "garbage"}, "cursor"), ({"cursor": "e30", "offset": 5}, "either cursor"),
     ({"label.9": "x"}, "label.9")],
)  # fmt: skip
async def test_bad_paging_is_400(
    client: httpx.AsyncClient, params: dict[str, Any], words: str
) -> None:
    assert_error(await client.get("/monitor/tasks", params=params), 400, words)


async def test_a_cursor_of_another_sort_is_400(client: httpx.AsyncClient, many: list[Doc]) -> None:
    page = assert_ok(await client.get("/monitor/tasks", params={"limit": 2, "sort": "name"}))
    params = {"cursor": page["next_cursor"], "sort": "-name"}
    assert_error(await client.get("/monitor/tasks", params=params), 400, "sort='name'")


# --- indexes ------------------------------------------------------------------------------


def winning(plan: dict[str, Any]) -> list[dict[str, Any]]:
    stages, todo = [], [plan["queryPlanner"]["winningPlan"]]
    while todo:
        stage = todo.pop()
        stages.append(stage)
        todo += [stage["inputStage"]] if "inputStage" in stage else []
        todo += stage.get("inputStages", [])
    return stages


async def explain(db: AsyncDatabase[Doc], collection: str, segment: Segment) -> Any:
    command = {"find": collection, "filter": segment.query, "sort": dict(segment.sort)}
    return await db.command("explain", command)


FILTERS: list[dict[str, Any]] = [
    {"uuid": "t-001"}, {"status": "FAILURE"}, {"status": "f,s"}, {"name": "a.x"},
    {"worker": "celery@w1"}, {"parent_id": "p"}, {"root_id": "r"}, {"queue": "q"}, {"app": "a"},
    {"cidr_id": "c1"}, {"cidr_ip_network": "10.0.0.0/8"}, {"asn_id": "x"}, {"asn_number": "7"},
    {"published": "true"}, {"published": "false"},
    {"received_after": "2022-01-01T00:00:00Z"}, {"started_before": "2022-01-01T00:00:00Z"},
    {"succeeded_after": "2022-01-01T00:00:00Z"}, {"timestamp_before": "2022-01-01T00:00:00Z"},
]  # fmt: skip


@pytest.mark.parametrize("params", FILTERS, ids=lambda p: ",".join(p))
async def test_every_filter_reads_an_index(
    db: AsyncDatabase[Doc], many: list[Doc], params: dict[str, Any]
) -> None:
    """The query of each filter alone, as the API sends it, is served by an index on the
    filtered field (SecantusDB and MongoDB both report IXSCAN)."""
    query = task_query(TaskFilters.model_validate(params))
    plan = await explain(db, mongo.TASKS, Segment(query, [("_id", 1)]))
    scans = [s for s in winning(plan) if s["stage"] == "IXSCAN"]
    assert scans, plan["queryPlanner"]["winningPlan"]
    field = next(f for f in query if f != "deleted")
    assert list(scans[0]["keyPattern"])[:2] == ["deleted", field]


@pytest.mark.parametrize("sort", [k for key in SORT_KEYS for k in (key, f"-{key}")])
async def test_every_sort_reads_an_index(
    db: AsyncDatabase[Doc], many: list[Doc], sort: str
) -> None:
    """Each segment of a page (first page and after a cursor) reads the sort key's index."""
    order = Sort.parse(sort)
    value = {"runtime": 1.0, "name": "b.y"}.get(order.key, T0)
    cursor = Cursor(sort, value, "x")
    base = task_query(TaskFilters())
    now = datetime.now(UTC)  # newest-first time reads also go back in windows from now
    reads = [*segments(base, order, None, now), *segments(base, order, cursor, now)]
    for segment in reads:
        plan = await explain(db, mongo.TASKS, segment)
        scans = [s for s in winning(plan) if s["stage"] == "IXSCAN"]
        assert scans, (segment, plan["queryPlanner"]["winningPlan"])
        assert list(scans[0]["keyPattern"])[:2] == ["deleted", order.key]


async def test_worker_filters_read_an_index(db: AsyncDatabase[Doc], many: list[Doc]) -> None:
    now = T0 + timedelta(days=1)
    for params in ({"name": "celery@w1"}, {"status": "1"}):
        query = worker_query(WorkerFilters.model_validate(params), now)
        plan = await explain(db, mongo.WORKERS, Segment(query, [("_id", 1)]))
        assert [s for s in winning(plan) if s["stage"] == "IXSCAN"], params
