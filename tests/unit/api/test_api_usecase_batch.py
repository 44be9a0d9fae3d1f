"""Seed 003's batch through the service layer, over in-memory read models and control."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tasktrail_api.domain.batch import BatchRequest
from tasktrail_api.domain.catalog import RecipeImport, RecipeTask
from tasktrail_api.domain.principals import Principal, Role
from tasktrail_api.domain.scope import EVERYTHING, Scope
from tasktrail_api.usecases.batch import Caller, Reply
from tasktrail_shared.catalog import entry_id

from tests.unit.api.fakes import ADMIN, NOW, OPERATOR, VIEWER, World, ok_reply, task, worker

APP = "default"


@pytest.fixture
def world() -> World:
    world = World()
    world.read_models.workers.add(
        worker("w@live", online=True),
        worker("w@dead", online=False),
        worker("w@other", online=True),
    )
    world.read_models.workers.docs["w@other"]["app"] = "other"
    world.read_models.tasks.add(
        task("run-1", "STARTED", worker="w@live", app=APP, age=3),
        task("run-2", "RECEIVED", worker="w@live", app=APP, age=2, parent_id="run-1"),
        task("lost-1", "STARTED", worker="w@live", app=APP, lost=True),
        task("dead-1", "STARTED", worker="w@dead", app=APP),
        task("done-1", "SUCCESS", worker="w@live", app=APP),
        task("wait-1", "PENDING", app=APP),
        task("gone-1", "STARTED", worker="w@live", app=APP, deleted=True),
        task("else-1", "STARTED", worker="w@other", app="other"),
        task("238733", "SUCCESS", worker="w@live", app=APP),
    )
    return world


def call(method: str, params: dict[str, Any], ident: Any = None) -> dict[str, Any]:
    return {"method": method, "params": {"project_id": APP, **params}, "id": ident}


async def run(
    world: World,
    *calls: dict[str, Any],
    who: Principal = ADMIN,
    scope: Scope = EVERYTHING,
    key: str | None = None,
) -> list[Reply]:
    request = BatchRequest.model_validate({"user_id": 4, "methods": list(calls)})
    return await world.use_cases.batch.run(request, Caller(who, scope, key))


def ids(reply: Reply) -> list[str]:
    assert reply.error is None, reply.error
    return [item["task_id"] for item in reply.result]


async def test_task_info_all_lists_exactly_the_active_tasks(world: World) -> None:
    [reply] = await run(world, call("TaskInfo", {"task_ids": "*"}))
    assert ids(reply) == ["run-1", "run-2"]
    assert {item["status"] for item in reply.result} == {"Started"}


async def test_task_info_by_ids_judges_each_worker_when_read(world: World) -> None:
    [reply] = await run(
        world, call("TaskInfo", {"task_ids": ["dead-1", "run-1", "lost-1", "wait-1", 238733]})
    )
    assert ids(reply) == ["dead-1", "run-1", "lost-1", "wait-1", "238733"]
    statuses = [item["status"] for item in reply.result]
    assert statuses == ["Stalled", "Started", "Stalled", "Scheduled", "Stopped"]
    # Four seconds later the live worker's heartbeat has lapsed too: no sweep is needed.
    world.clock.elapsed += 5
    [later] = await run(world, call("TaskInfo", {"task_ids": "run-1"}))
    assert later.result[0]["status"] == "Stalled"


async def test_unknown_deleted_and_other_projects_tasks_are_not_found(world: World) -> None:
    replies = await run(
        world,
        call("TaskInfo", {"task_ids": ["run-1", "nope", "gone-1", "else-1"]}),
        call("TaskInfo", {"task_ids": "*"}),
    )
    assert replies[0].error is not None
    assert replies[0].error.message == "task not found: nope, gone-1, else-1"
    assert ids(replies[1]) == ["run-1", "run-2"]  # the failure stopped nothing


async def test_the_same_method_twice_answers_each_in_order_with_its_id(world: World) -> None:
    replies = await run(
        world,
        call("TaskInfo", {"task_ids": "run-2"}, ident=7),
        call("TaskInfo", {"task_ids": "run-1"}, ident="b"),
        {"method": "NoSuch", "params": {}},
    )
    assert [(r.call.method, r.call.id, ids(r)) for r in replies[:2]] == [
        ("TaskInfo", 7, ["run-2"]),
        ("TaskInfo", "b", ["run-1"]),
    ]
    assert replies[2].error is not None
    assert replies[2].error.message.startswith("method: unknown method 'NoSuch'; one of TaskInfo")


async def test_app_tasks_groups_children_per_worker(world: World) -> None:
    [everyone, named] = await run(
        world,
        call("AppTasks", {"app_ids": "*"}),
        call("AppTasks", {"app_ids": ["id-w@dead", "w@live"]}),
    )
    assert everyone.error is None and named.error is None
    assert [w["app_id"] for w in everyone.result] == ["w@live"]
    live = everyone.result[0]
    assert [t["task_id"] for t in live["tasks"]] == ["run-1", "lost-1"]
    assert [t["task_id"] for t in live["children"]["run-1"]] == ["run-2"]
    assert [t["status"] for t in live["tasks"]] == ["Started", "Stalled"]
    dead, again = named.result
    assert (dead["app_id"], dead["online"], again["app_id"]) == ("w@dead", False, "w@live")
    assert [(t["task_id"], t["status"]) for t in dead["tasks"]] == [("dead-1", "Stalled")]
    [missing] = await run(world, call("AppTasks", {"app_ids": ["w@other"]}))
    assert missing.error is not None and missing.error.message == "worker not found: w@other"


def entry(seq: int, index: int, uuid: str, kind: str) -> dict[str, Any]:
    at = NOW - timedelta(seconds=100 - seq)
    return {
        "_id": f"m{seq}", "app": APP, "uuids": [uuid], "seq": seq, "timestamp": at,
        "events": [{"uuid": uuid, "index": index, "type": kind, "timestamp": at,
                    "event": {"actor": "ann"}}],
    }  # fmt: skip


async def test_task_events_update_tokens_return_only_what_is_new(world: World) -> None:
    messages = world.read_models.messages
    messages += [entry(seq, 0, "run-1", f"e{seq}") for seq in (1, 2, 3)]
    messages.append(entry(4, 0, "run-2", "other task"))
    [first] = await run(world, call("TaskEvents", {"task_id": "run-1", "limit_value": 2}))
    assert [e["type"] for e in first.result["events"]] == ["e2", "e3"]  # the newest, in order
    token = first.result["update_token"]
    [nothing] = await run(world, call("TaskEvents", {"task_id": "run-1", "update_token": token}))
    assert (nothing.result["events"], nothing.result["update_token"]) == ([], token)
    multi = entry(5, 0, "run-1", "e5a")
    multi["events"].append({**multi["events"][0], "index": 1, "type": "e5b"})
    messages += [multi, entry(6, 0, "run-1", "e6")]
    [new] = await run(
        world, call("TaskEvents", {"task_id": "run-1", "update_token": token, "limit_value": 2})
    )
    assert [e["type"] for e in new.result["events"]] == ["e5a", "e5b"]
    [rest] = await run(
        world, call("TaskEvents", {"task_id": "run-1", "update_token": new.result["update_token"]})
    )
    assert [e["type"] for e in rest.result["events"]] == ["e6"]


async def test_task_events_refuses_a_bad_token_and_an_unknown_task(world: World) -> None:
    replies = await run(
        world,
        call("TaskEvents", {"task_id": "run-1", "update_token": "later"}),
        call("TaskEvents", {"task_id": "nope"}),
        call("TaskEvents", {"task_id": "run-1"}),
    )
    assert [r.error.message if r.error else None for r in replies] == [
        "params.update_token: not an update token this API gave",
        "task not found",
        None,
    ]
    assert replies[2].result == {"events": [], "update_token": "0.0"}


async def define(world: World, name: str, app: str = APP) -> None:
    """A catalog entry, imported by a root admin into cluster ``app``, that the operator
    token may run (its ACL names it)."""
    recipe = RecipeImport(task=RecipeTask(name=name, acl=[OPERATOR.name]), app=app)
    defined = await world.use_cases.catalog.import_recipe(EVERYTHING, ADMIN, recipe)
    assert defined.shown is not None


async def test_task_start_runs_a_catalog_entry_and_task_stop_revokes(world: World) -> None:
    await define(world, "demo.add")
    world.sender.reply = lambda request: ok_reply(request, result="new-id")
    start, stop = await run(
        world,
        call("TaskStart", {"name": "demo.add", "args": [2, 3]}),
        call("TaskStop", {"task_ids": ["run-1", "run-2"], "terminate": True}),
        who=OPERATOR,
        key="k1",
    )
    assert start.error is None and start.result["task_id"] == "new-id"
    job = start.result["job"]
    assert (job["id"], job["origin"], job["user"]) == ("new-id", "batch", "oncall")
    assert stop.error is None and stop.result["task_ids"] == ["run-1", "run-2"]
    assert stop.result["workers"] == {"celery@a": {"status": "ok", "detail": "ok"}}
    run_request, revoke_request = world.sender.requests
    assert (run_request.command, run_request.actor) == ("run", "oncall")
    assert run_request.args["name"] == "demo.add" and run_request.args["args"] == [2, 3]
    assert run_request.args["labels"] == {
        "catalog_id": entry_id(APP, "demo.add"), "origin": "batch", "started_by": "oncall",
    }  # fmt: skip
    assert (revoke_request.command, revoke_request.id) == ("revoke", "oncall/k1#1")
    assert revoke_request.args == {
        "ids": ["run-1", "run-2"],
        "terminate": True,
        "signal": "SIGTERM",
    }
    assert world.sender.apps == [APP, APP]  # to the project's control


async def test_task_start_needs_a_catalog_entry_of_the_project(world: World) -> None:
    await define(world, "demo.add", app="other")
    replies = await run(
        world,
        call("TaskStart", {"name": "demo.add"}),
        {"method": "TaskStart", "params": {"project_id": "other", "name": "demo.add"}},
    )
    assert replies[0].error is not None and replies[0].error.message.endswith("not found")
    assert replies[1].error is None
    assert world.sender.apps == ["other"]  # to the project's control


async def test_commands_need_the_operator_role_and_visible_tasks(world: World) -> None:
    replies = await run(
        world,
        call("TaskStart", {"name": "demo.add"}),
        call("TaskStop", {"task_ids": "run-1"}),
        who=VIEWER,
    )
    assert [(r.error.message if r.error else None) for r in replies] == [
        "TaskStart needs the operator role",
        "TaskStop needs the operator role",
    ]
    unknown, elsewhere = await run(
        world,
        call("TaskStop", {"task_ids": ["run-1", "nope"]}),
        call("TaskStop", {"task_ids": ["else-1"]}),  # a task of another project
    )
    assert unknown.error is not None and unknown.error.message == "task nope not found"
    assert elsewhere.error is not None and elsewhere.error.message == "task else-1 not found"
    assert world.sender.requests == []


async def test_a_project_the_caller_may_not_see_is_not_found_like_a_missing_one(
    world: World,
) -> None:
    acme = Scope.of("acme", ["other"])
    replies = await run(
        world,
        call("TaskInfo", {"task_ids": "*"}),
        {"method": "TaskInfo", "params": {"project_id": "nobody", "task_ids": "*"}},
        {"method": "TaskInfo", "params": {"project_id": "other", "task_ids": "*"}},
        {"method": "TaskStop", "params": {"project_id": APP, "task_ids": "run-1"}},
        who=Principal("acme-ops", Role.operator, "acme"),
        scope=acme,
    )
    errors = [r.error.message if r.error else None for r in replies]
    assert errors == ["project not found", "project not found", None, "project not found"]
    assert ids(replies[2]) == ["else-1"]
    assert world.sender.requests == []


async def test_a_method_that_breaks_is_answered_with_an_error_and_the_rest_run(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(world.use_cases.workers, "online", broken)
    replies = await run(
        world, call("AppTasks", {"app_ids": "*"}), call("TaskInfo", {"task_ids": "run-1"})
    )
    assert replies[0].error is not None
    assert replies[0].error.message == "AppTasks failed; the error is logged"
    assert ids(replies[1]) == ["run-1"]
