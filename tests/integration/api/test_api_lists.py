"""Every list shape on a real server: order, completeness, cursor walks, totals, the shapes
refused, and an index behind every read (``explain``)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.domain import indexes, plan, shapes
from tasktrail_api.domain.cursor import Cursor
from tasktrail_api.domain.filters import TaskFilters, WorkerFilters
from tasktrail_api.domain.plan import Segment, worker_query
from tasktrail_shared import mongo
from tasktrail_shared.counts import ALL, Cell
from tasktrail_shared.fields import SEED_LABELS

from tests.integration.api.support import T0, Doc, count_tasks, create_api_indexes, task_doc
from tests.integration.api.test_api_tasks import assert_error, assert_ok

N = 60
APPS = ["default", "eu"]
SINCE = (T0 - timedelta(days=1)).isoformat()


@pytest.fixture
async def many(db: AsyncDatabase[Doc]) -> list[Doc]:
    """Tasks of two clusters, with ties and missing values in every sortable field."""
    rng = random.Random(7)
    docs = []
    for i in range(N):
        state = rng.choice(["SUCCESS", "FAILURE", "STARTED", "PENDING"])
        doc = task_doc(f"t-{i:03d}", state, age=rng.randrange(0, 8), app=APPS[i % 2])
        doc["received"] = None if i % 5 == 0 else doc["received"]
        doc["runtime"] = None if i % 4 == 0 else rng.choice([0.5, 1.0, 2.0])
        doc["name"] = None if i % 7 == 0 else rng.choice(["a.x", "b.y", "c.z"])
        doc["worker"] = rng.choice(["celery@w1", "celery@w2"])
        doc["root_id"] = f"r-{i % 3}"
        doc["labels"] = {"cidr_id": f"c{i % 3}", "asn_number": 100 + i % 2}
        doc["deleted"] = i % 11 == 0
        docs.append(doc)
    await db.tasks.insert_many(docs)
    await create_api_indexes(db)
    await count_tasks(db)
    return [d for d in docs if not d["deleted"]]


def expected_order(docs: list[Doc], sort: str) -> list[str]:
    key, descending = sort.removeprefix("-"), sort.startswith("-")
    valued = [d for d in docs if d.get(key) is not None]
    missing = [d for d in docs if d.get(key) is None]
    valued.sort(key=lambda d: (d[key], d["_id"]), reverse=descending)
    missing.sort(key=lambda d: d["_id"], reverse=descending)
    ordered = valued + missing if descending else missing + valued
    return [d["_id"] for d in ordered]


async def walk(client: httpx.AsyncClient, params: dict[str, Any], limit: int) -> list[str]:
    """Every task id of the list, following ``next_cursor`` page by page; every page gives
    the same total."""
    seen: list[str] = []
    query: dict[str, Any] = {**params, "limit": limit}
    total = None
    while True:
        data = assert_ok(await client.get("/monitor/tasks", params=query))
        assert total is None or data["count"] == total
        total = data["count"]
        seen += [t["id"] for t in data["celery_tasks"]]
        if data["next_cursor"] is None:
            assert total == len(seen) and data["count_is_exact"]
            return seen
        query["cursor"] = data["next_cursor"]


Case = tuple[dict[str, Any], Callable[[Doc], bool]]


def everything(doc: Doc) -> bool:
    return True


def is_(doc: Doc, worker: str, *states: str) -> bool:
    return bool(doc["worker"] == worker and doc["state"] in states)


TIME_SORTS = [s for key in shapes.TIME_KEYS for s in (key, f"-{key}")]
CASES: list[Case] = [
    *(({"sort": s}, everything) for s in TIME_SORTS),
    *(({"sort": s, "status": "f"}, lambda d: d["state"] == "FAILURE") for s in TIME_SORTS),
    ({"sort": "-started", "status": "f,s"}, lambda d: d["state"] in ("FAILURE", "SUCCESS")),
    ({"app": "eu", "sort": "received"}, lambda d: d["app"] == "eu"),
    ({"name": "a.x"}, lambda d: d["name"] == "a.x"),
    ({"name": "a.x", "sort": "timestamp"}, lambda d: d["name"] == "a.x"),
    ({"worker": "celery@w2", "status": "s,f"}, lambda d: is_(d, "celery@w2", "SUCCESS", "FAILURE")),
    ({"queue": "celery", "status": "p"}, lambda d: d["state"] == "PENDING"),
    ({"root_id": "r-1"}, lambda d: d["root_id"] == "r-1"),
    ({"cidr_id": "c2", "sort": "timestamp"}, lambda d: d["labels"]["cidr_id"] == "c2"),
    ({"asn_number": "101"}, lambda d: d["labels"]["asn_number"] == 101),
    ({"published": "true"}, lambda d: d["sent"] is not None),
    ({"published": "false"}, lambda d: d["sent"] is None),
    ({"sort": "-runtime", "timestamp_after": SINCE}, everything),
    ({"sort": "runtime", "status": "s", "received_after": SINCE},
     lambda d: d["state"] == "SUCCESS" and d["received"] is not None),
    ({"sort": "-name", "worker": "celery@w1", "timestamp_after": SINCE},
     lambda d: d["worker"] == "celery@w1"),
    ({"root_id": "r-2", "status": "f", "sort": "-received"},
     lambda d: d["root_id"] == "r-2" and d["state"] == "FAILURE"),
    ({"root_id": "r-0", "sort": "name"}, lambda d: d["root_id"] == "r-0"),
    ({"uuid": "t-004", "status": "s,f,t,p"}, lambda d: d["_id"] == "t-004"),
    ({"uuid": "t-004", "app": "eu"}, lambda d: False),
]  # fmt: skip


def case_id(case: Case) -> str:
    return "&".join(f"{k}={v}" for k, v in case[0].items())


@pytest.mark.parametrize("case", CASES, ids=case_id)
async def test_every_served_shape_walks_its_whole_list_once_in_order(
    client: httpx.AsyncClient, many: list[Doc], case: Case
) -> None:
    params, wanted = case
    sort = params.get("sort", "-timestamp")
    expected = expected_order([d for d in many if wanted(d)], sort)
    assert await walk(client, params, 4) == expected
    if len(expected) > 4:
        offset = assert_ok(
            await client.get("/monitor/tasks", params={**params, "offset": 2, "limit": 3})
        )
        assert [t["id"] for t in offset["celery_tasks"]] == expected[2:5]


async def test_newest_first_pages_read_back_in_windows_and_miss_nothing(
    client: httpx.AsyncClient, db: AsyncDatabase[Doc]
) -> None:
    """Recent tasks, spread over the windows (1 s ... years, one in the future, some without
    the key): newest-first pages walk them all once, in order."""
    now_offset = (T0 - datetime.now(UTC)).total_seconds()  # age that means "now"
    ages = [-120, 0, 0.5, 5, 7, 9, 63, 65, 479, 481, 3600, 30000, 2e6, 1.5e7, 2e8, 2e8]
    docs = []
    for i, age in enumerate(ages):
        doc = task_doc(f"w-{i:02d}", age=now_offset + age)
        doc["received"] = None if i % 6 == 5 else doc["received"]
        docs.append(doc)
    await db.tasks.insert_many(docs)
    await create_api_indexes(db)
    await count_tasks(db)
    for sort in ("-timestamp", "-received", "timestamp", "received"):
        assert await walk(client, {"sort": sort}, 3) == expected_order(docs, sort)
    since = datetime.now(UTC) - timedelta(hours=2)
    recent: dict[str, str | int] = {
        "sort": "-timestamp",
        "timestamp_after": since.isoformat(),
        "limit": 100,
    }
    data = assert_ok(await client.get("/monitor/tasks", params=recent))
    wanted = [d for d in docs if d["timestamp"] >= since]
    assert [t["id"] for t in data["celery_tasks"]] == expected_order(wanted, "-timestamp")
    assert (data["count"], data["count_is_exact"]) == (len(wanted), True)


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


async def test_totals_come_from_the_counters_or_are_counted_to_the_bound(
    client: httpx.AsyncClient, db: AsyncDatabase[Doc], many: list[Doc]
) -> None:
    data = assert_ok(await client.get("/monitor/tasks", params={"status": "f", "app": "eu"}))
    failed = [d for d in many if d["state"] == "FAILURE" and d["app"] == "eu"]
    assert (data["count"], data["count_is_exact"]) == (len(failed), True)
    # the counters, not the documents, give the total: a document they have not counted yet
    await db.tasks.insert_one(task_doc("late", "FAILURE", app="eu"))
    data = assert_ok(await client.get("/monitor/tasks", params={"status": "f", "app": "eu"}))
    assert data["count"] == len(failed) and len(data["celery_tasks"]) == len(failed) + 1
    await count_tasks(db)
    data = assert_ok(await client.get("/monitor/tasks", params={"status": "f", "app": "eu"}))
    assert data["count"] == len(failed) + 1
    # a label's total comes from the counters too (decision 26), typed as the filter matches
    labelled = [d for d in many if d["labels"]["cidr_id"] == "c1"]
    data = assert_ok(await client.get("/monitor/tasks", params={"cidr_id": "c1", "limit": 1}))
    assert (data["count"], data["count_is_exact"]) == (len(labelled), True)
    await db.tasks.insert_one(task_doc("late-c1", app="eu", labels={"cidr_id": "c1"}))
    data = assert_ok(await client.get("/monitor/tasks", params={"cidr_id": "c1", "limit": 1}))
    assert data["count"] == len(labelled)
    await count_tasks(db)
    data = assert_ok(await client.get("/monitor/tasks", params={"cidr_id": "c1", "limit": 1}))
    assert (data["count"], data["count_is_exact"]) == (len(labelled) + 1, True)
    numbered = [d for d in many if d["labels"]["asn_number"] == 101]
    data = assert_ok(await client.get("/monitor/tasks", params={"asn_number": "101"}))
    assert (data["count"], len(data["celery_tasks"])) == (len(numbered), len(numbered))


async def test_past_the_bound_a_count_is_a_lower_bound(
    api: httpx.AsyncClient, many: list[Doc]
) -> None:
    from tests.integration.api.support import ADMIN_TOKEN

    api.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    api_app: Any = api._transport.app  # type: ignore[attr-defined]
    tasks = api_app.state.use_cases.tasks
    tasks.count_bound = 5
    data = assert_ok(await api.get("/monitor/tasks", params={"root_id": "r-1", "limit": 1}))
    assert (data["count"], data["count_is_exact"]) == (5, False)
    data = assert_ok(await api.get("/monitor/tasks", params={"status": "s"}))
    assert data["count_is_exact"] is True  # the counters know, whatever the bound
    labelled = sum(d["labels"]["cidr_id"] == "c1" for d in many)
    assert labelled > 5
    data = assert_ok(await api.get("/monitor/tasks", params={"cidr_id": "c1", "limit": 1}))
    assert (data["count"], data["count_is_exact"]) == (labelled, True)  # so do a label's


async def test_a_first_page_counts_on_past_its_rows_exactly_to_the_bound(
    api: httpx.AsyncClient, db: AsyncDatabase[Doc], many: list[Doc]
) -> None:
    """A first page's count reads on from its last row (decision 25): whatever the page's
    size, offset, order or the bound, it is the list's, exact up to the bound."""
    from tests.integration.api.support import ADMIN_TOKEN

    await db.tasks.insert_one(task_doc("untimed", app="eu", root_id="r-1", timestamp=None))
    api.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    tasks = api._transport.app.state.use_cases.tasks  # type: ignore[attr-defined]
    size = 1 + sum(d["root_id"] == "r-1" for d in many)
    for bound in (1, 2, size - 1, size, size + 1):
        tasks.count_bound = bound
        pages: list[dict[str, Any]] = [
            {"limit": 1},
            {"limit": 2, "offset": 1},
            {"limit": 3, "sort": "timestamp"},
            {"limit": size - 1, "sort": "-timestamp"},
            {"limit": 1, "offset": size - 1},
        ]
        for params in pages:
            got = assert_ok(await api.get("/monitor/tasks", params={"root_id": "r-1", **params}))
            expected = (min(size, bound), size <= bound)
            assert (got["count"], got["count_is_exact"]) == expected, (bound, params)


@pytest.mark.parametrize(
    ("params", "words"),
    [({"cursor": "garbage"}, "cursor"), ({"cursor": "e30", "offset": 5}, "either cursor"),
     ({"label.9": "x"}, "label.9"), ({"name": "a", "worker": "w"}, "one filter besides status"),
     ({"cidr_id": "c", "status": "s"}, "with status"), ({"sort": "runtime"}, "needs a time range"),
     ({"worker": "w", "sort": "received"}, "read by timestamp"), ({"label.zone": "eu"}, "no index"),
     ({"received_after": SINCE}, "a time range on received with sort=timestamp")],
)  # fmt: skip
async def test_unserved_shapes_and_bad_paging_are_400(
    client: httpx.AsyncClient, params: dict[str, Any], words: str
) -> None:
    message = assert_error(await client.get("/monitor/tasks", params=params), 400, words)
    if "shape" in message:
        assert "List shapes" in message and "served:" in message


async def test_a_cursor_of_another_sort_is_400(client: httpx.AsyncClient, many: list[Doc]) -> None:
    page = assert_ok(await client.get("/monitor/tasks", params={"limit": 2, "sort": "timestamp"}))
    params = {"cursor": page["next_cursor"], "sort": "-timestamp"}
    assert_error(await client.get("/monitor/tasks", params=params), 400, "sort='timestamp'")


# --- indexes ------------------------------------------------------------------------------


def winning(explained: dict[str, Any]) -> list[dict[str, Any]]:
    stages, todo = [], [explained["queryPlanner"]["winningPlan"]]
    while todo:
        stage = todo.pop()
        stages.append(stage)
        todo += [stage["inputStage"]] if "inputStage" in stage else []
        todo += stage.get("inputStages", [])
    return stages


async def explain(db: AsyncDatabase[Doc], collection: str, segment: Segment) -> Any:
    command = {"find": collection, "filter": segment.query, "sort": dict(segment.sort)}
    return await db.command("explain", command)


def reads(params: dict[str, Any]) -> list[Segment]:
    """Every read of a first page, a page after a cursor, and the count of a list."""
    given = TaskFilters.model_validate(params)
    sort = given.sort
    tally = {(ALL, ALL, "SUCCESS"): Cell(3, (T0,) * 4, (T0,) * 4)}
    totals = {app: tally for app in APPS}
    now = datetime.now(UTC)
    first = plan.task_page(given, {}, None, now, APPS, totals)
    value = T0 if shapes.Order.parse(sort).key in shapes.TIME_KEYS else 1.0
    after = plan.task_page(given, {}, Cursor(sort, value, "x"), now, APPS, {})
    return [s for p in (first, after) for step in (*p.steps, *p.count) for s in step.segments]


@pytest.mark.parametrize("case", CASES, ids=case_id)
async def test_every_read_of_every_served_shape_is_an_index_scan(
    db: AsyncDatabase[Doc], many: list[Doc], case: Case
) -> None:
    """Each read is "equalities, then one range" on the index whose leading fields are those
    equalities and whose next field is the range's (SecantusDB and MongoDB report IXSCAN)."""
    for segment in reads(case[0]):
        explained = await explain(db, mongo.TASKS, segment)
        scans = [s for s in winning(explained) if s["stage"] == "IXSCAN"]
        assert scans, (segment, explained["queryPlanner"]["winningPlan"])
        keys = list(scans[0]["keyPattern"])
        equal = {k for k, v in segment.query.items() if not isinstance(v, dict)}
        ranged = [k for k, v in segment.query.items() if isinstance(v, dict)]
        assert set(keys[: len(equal)]) == equal, (segment.query, keys)
        assert keys[len(equal) : len(equal) + len(ranged)] == ranged, (segment.query, keys)


async def test_every_index_is_created(db: AsyncDatabase[Doc], many: list[Doc]) -> None:
    names = set(await db.tasks.index_information())
    assert set(indexes.TASK_INDEXES) <= names
    assert {f"live_label_{n}" for n in SEED_LABELS} <= names


async def test_worker_filters_read_an_index(db: AsyncDatabase[Doc], many: list[Doc]) -> None:
    now = T0 + timedelta(days=1)
    for params in ({"name": "celery@w1"}, {"status": "1"}):
        query = worker_query(WorkerFilters.model_validate(params), now)
        explained = await explain(db, mongo.WORKERS, Segment(query, [("_id", 1)]))
        assert [s for s in winning(explained) if s["stage"] == "IXSCAN"], params
