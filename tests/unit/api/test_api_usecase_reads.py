"""Reads through the service layer: lists and their pages, one task or worker, the
dashboard and the audit history, over in-memory read models."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tasktrail_api.domain.errors import BadRequest, NotFound
from tasktrail_api.domain.filters import EventFilters, TaskFilters, WorkerFilters
from tasktrail_api.domain.scope import EVERYTHING

from tests.unit.api.fakes import NOW, World, task, worker


@pytest.fixture
def world() -> World:
    world = World()
    world.read_models.tasks.add(
        *(task(f"t-{i}", "SUCCESS" if i % 2 else "FAILURE", age=i // 2) for i in range(7)),
        task("t-gone", deleted=True),
    )
    return world


def filters(**params: Any) -> TaskFilters:
    return TaskFilters.model_validate(params)


async def test_cursors_visit_every_task_once_in_order(world: World) -> None:
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        page = await world.use_cases.tasks.list(filters(limit=3, cursor=cursor), {}, EVERYTHING)
        assert page.count == 7
        seen += [t["id"] for t in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == ["t-1", "t-0", "t-3", "t-2", "t-5", "t-4", "t-6"]


async def test_offset_pages_and_filters(world: World) -> None:
    page = await world.use_cases.tasks.list(filters(status="f", offset=1, limit=2), {}, EVERYTHING)
    assert ([t["id"] for t in page.items], page.count) == (["t-2", "t-4"], 4)


async def test_a_cursor_and_an_offset_together_are_refused(world: World) -> None:
    first = await world.use_cases.tasks.list(filters(limit=1), {}, EVERYTHING)
    assert first.next_cursor is not None
    with pytest.raises(BadRequest, match=r"^cursor: give either"):
        await world.use_cases.tasks.list(
            filters(cursor=first.next_cursor, offset=1), {}, EVERYTHING
        )
    with pytest.raises(BadRequest, match=r"^cursor: this cursor belongs to sort='-timestamp'"):
        await world.use_cases.tasks.list(
            filters(cursor=first.next_cursor, sort="name"), {}, EVERYTHING
        )
    with pytest.raises(BadRequest, match=r"^cursor: not a cursor"):
        await world.use_cases.tasks.list(filters(cursor="nope"), {}, EVERYTHING)


async def test_labels_filter_the_list_when_indexed(world: World) -> None:
    world.read_models.tasks.add(task("t-eu", labels={"zone": "eu"}))
    with pytest.raises(BadRequest, match=r"label.zone has no index"):
        await world.use_cases.tasks.list(filters(), {"zone": "eu"}, EVERYTHING)
    world.read_models.label_indexes.add("zone")
    page = await world.use_cases.tasks.list(filters(), {"zone": "eu"}, EVERYTHING)
    assert [t["id"] for t in page.items] == ["t-eu"]
    assert (page.count, page.count_is_exact) == (1, True)  # counted by reads, under the bound


async def test_one_task_unless_deleted(world: World) -> None:
    assert (await world.use_cases.tasks.get("t-3", EVERYTHING))["status"] == "SUCCESS"
    for missing in ("t-gone", "nope"):
        with pytest.raises(NotFound, match="task not found"):
            await world.use_cases.tasks.get(missing, EVERYTHING)


async def test_workers_are_online_by_the_clock(world: World) -> None:
    world.read_models.workers.add(worker("celery@a", online=True), worker("celery@b", online=False))
    page = await world.use_cases.workers.list(
        WorkerFilters.model_validate({"status": "1"}), EVERYTHING
    )
    assert [(w["name"], w["status"]) for w in page.items] == [("celery@a", True)]
    assert (await world.use_cases.workers.get("id-celery@b", EVERYTHING))["status"] is False
    world.clock.elapsed = 60  # no heartbeat since: offline
    assert (await world.use_cases.workers.get("celery@a", EVERYTHING))["status"] is False
    with pytest.raises(NotFound, match="worker not found"):
        await world.use_cases.workers.get("celery@z", EVERYTHING)


async def test_the_dashboard_counts_live_tasks_and_workers(world: World) -> None:
    world.read_models.workers.add(
        worker("celery@a", online=True, active=2, processed=5),
        worker("celery@b", online=False, active=9, processed=1),
    )
    shown = await world.use_cases.dashboard.get(EVERYTHING)
    assert shown["task"]["task_success"] == 3 and shown["task"]["task_failed"] == 4
    assert shown["worker"] == {
        "worker_online": 1,
        "worker_offline": 1,
        "worker_task_active": 2,
        "worker_task_processed": 6,
    }


def message(message_id: str, uuid: str | None, *types: str, age: float = 0) -> dict[str, Any]:
    at = NOW - timedelta(seconds=age)
    events = [
        {"uuid": uuid, "index": i, "type": t, "timestamp": at, "event": {"actor": "oncall"}}
        for i, t in enumerate(types)
    ]
    return {"_id": message_id, "app": "default", "uuids": [uuid] if uuid else [],
            "timestamp": at, "events": events}  # fmt: skip


@pytest.fixture
def history(world: World) -> World:
    world.read_models.messages += [
        message("m1", "t-1", "task-received", "task-started", age=3),
        message("m2", "t-1", "tasktrail.task.amended", age=2),
        message("m3", None, "tasktrail.command.completed", age=1),
        message("m4", "t-gone", "tasktrail.task.deleted", age=0),
    ]
    return world


async def test_events_are_newest_first_across_tasks(history: World) -> None:
    page = await history.use_cases.audit.events(EventFilters(), EVERYTHING)
    assert [e["id"] for e in page.items] == ["m4:0", "m3:0", "m2:0", "m1:0", "m1:1"]
    commands = await history.use_cases.audit.events(
        EventFilters(type="tasktrail.command.*"), EVERYTHING
    )
    assert ([e["id"] for e in commands.items], commands.count) == (["m3:0"], 1)


async def test_a_task_s_history_is_oldest_first_and_kept_after_a_delete(history: World) -> None:
    page = await history.use_cases.audit.task_history("t-1", EventFilters(), EVERYTHING)
    assert [e["type"] for e in page.items] == [
        "task-received",
        "task-started",
        "tasktrail.task.amended",
    ]
    kept = await history.use_cases.audit.task_history("t-gone", EventFilters(), EVERYTHING)
    assert kept.count == 1
    assert (
        await history.use_cases.audit.task_history("t-3", EventFilters(), EVERYTHING)
    ).count == 0
    with pytest.raises(NotFound, match="task not found"):
        await history.use_cases.audit.task_history("nope", EventFilters(), EVERYTHING)


async def test_the_export_filters_entries_a_chunk_at_a_time(history: World) -> None:
    chunks = [
        c
        async for c in history.use_cases.audit.export(EventFilters(type="task-started"), EVERYTHING)
    ]
    assert [[e["id"] for e in chunk] for chunk in chunks] == [["m1:1"]]
    every = [c async for c in history.use_cases.audit.export(EventFilters(), EVERYTHING)]
    assert [len(chunk) for chunk in every] == [3, 2]
