"""The task catalog through the service layer: entries and who sees them, admins' changes,
secret keys, runs (arguments, one at a time, labels, time limits) and jobs."""

from __future__ import annotations

from typing import Any

import pytest
from tasktrail_api.domain.catalog import RecipeImport, RecipeTask
from tasktrail_api.domain.errors import BadRequest, Conflict, Forbidden, NotFound
from tasktrail_api.domain.principals import Principal, Role
from tasktrail_api.domain.scope import Scope
from tasktrail_shared import own_events
from tasktrail_shared.catalog import entry_id
from tasktrail_shared.commands import CommandReply, CommandRequest

from tests.unit.api.fakes import ADMIN, OPERATOR, VIEWER, World, ok_reply, task

ADD = entry_id("default", "demo.add")
SCOPE = Scope(org="default")
"""The default organisation's scope while it is the only one: every cluster."""


class Runs:
    """Control's ``run``: a new task id each time, and the task recorded with its labels,
    as control's record and the projector would show it."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.args: list[dict[str, Any]] = []

    def __call__(self, request: CommandRequest) -> CommandReply:
        self.args.append(request.args)
        task_id = f"job{len(self.args)}"
        labels = request.args.get("labels") or {}
        self.world.read_models.tasks.add(
            task(task_id, "PENDING", name=request.args["name"], args=repr(request.args["args"]),
                 labels=labels, lost=False, app=self.world.sender.apps[-1])
        )  # fmt: skip
        return ok_reply(request, result=task_id)


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def runs(world: World) -> Runs:
    runs = Runs(world)
    world.sender.reply = runs
    return runs


async def define(world: World, name: str = "demo.add", **fields: Any) -> str:
    recipe = RecipeImport(task=RecipeTask(name=name, **fields))
    outcome = await world.use_cases.catalog.import_recipe(SCOPE, ADMIN, recipe)
    assert outcome.shown is not None and outcome.accepted is None
    return outcome.entry_id


async def test_an_imported_entry_is_listed_for_admins_and_for_the_tokens_its_acl_names(
    world: World,
) -> None:
    assert await define(world, timeout=60, tags=["math"]) == ADD
    await define(world, "demo.mul", acl=["grafana"])
    catalog = world.use_cases.catalog
    assert [e["name"] for e in await catalog.entries(SCOPE, ADMIN)] == ["demo.add", "demo.mul"]
    [seen] = await catalog.entries(SCOPE, VIEWER)
    assert (seen["name"], seen["customer_name"], seen["multitasking"]) == (
        "demo.mul",
        "default",
        True,
    )
    entry = await catalog.get(SCOPE, ADMIN, ADD)
    assert (entry["id"], entry["timeout"], entry["tags"], entry["type"]) == (
        ADD,
        60,
        ["math"],
        "celery",
    )
    with pytest.raises(NotFound):
        await catalog.get(SCOPE, VIEWER, ADD)
    assert world.publisher.apps == ["default", "default"]  # under the entry's cluster


async def test_amendments_define_fields_and_null_returns_the_default(world: World) -> None:
    await define(world, timeout=60)
    catalog = world.use_cases.catalog
    outcome = await catalog.amend(SCOPE, ADMIN, ADD, {"timeout": None, "multitasking": False})
    assert outcome.shown is not None
    assert (outcome.shown["timeout"], outcome.shown["multitasking"]) == (None, False)
    with pytest.raises(BadRequest, match="timeout"):
        await catalog.amend(SCOPE, ADMIN, ADD, {"timeout": -1})
    with pytest.raises(Forbidden):
        await catalog.amend(SCOPE, OPERATOR, ADD, {"timeout": 5})
    event_type, event = world.publisher.published[1]
    assert event_type == own_events.CATALOG_AMENDED and event["actor"] == "root"


async def test_an_import_leaves_the_acl_alone_unless_it_gives_one(world: World) -> None:
    await define(world, acl=["grafana"])
    await define(world, timeout=5)
    assert (await world.use_cases.catalog.get(SCOPE, ADMIN, ADD))["acl"] == ["grafana"]
    recipe = await world.use_cases.catalog.recipe(SCOPE, ADMIN, ADD)
    expected = {"name": "demo.add", "timeout": 5, "multitasking": None}
    assert recipe["task"] == {"description": None, "tags": None, "task_arguments": None, **expected}


async def test_another_organisation_and_a_stranger_get_404(world: World) -> None:
    catalog = world.use_cases.catalog
    with pytest.raises(NotFound):
        await catalog.scope("acme", ADMIN)
    with pytest.raises(NotFound):
        await catalog.scope("default", Principal("x", Role.admin, org="acme"))
    assert (await catalog.scope("default", Principal("r", Role.admin, org=None))).org == "default"
    await define(world)
    with pytest.raises(NotFound):
        await catalog.get(Scope.of("acme", ["acme-app"]), ADMIN, ADD)


async def test_a_run_sends_the_entry_with_its_time_limit_and_labels(
    world: World, runs: Runs
) -> None:
    await define(world, timeout=60, acl=["oncall"], task_arguments=[
        {"type": "number", "label": "x"}, {"type": "fixed", "value": 2}])  # fmt: skip
    job = await world.use_cases.catalog.run(SCOPE, OPERATOR, ADD, ["40"], "token")
    [sent] = runs.args
    assert (sent["name"], sent["args"], sent["time_limit"]) == ("demo.add", [40, 2], 60)
    assert sent["labels"] == {"catalog_id": ADD, "origin": "token", "started_by": "oncall"}
    assert (job["id"], job["task_id"], job["lifecycle"], job["state"]) == (
        "job1", ADD, "ready", "in_progress")  # fmt: skip
    assert (job["user"], job["origin"], job["task_arguments_values"]) == (
        "oncall",
        "token",
        [40, 2],
    )
    assert world.sender.requests[0].actor == "oncall"


async def test_a_run_without_described_arguments_passes_the_values_and_the_default_timeout(
    world: World, runs: Runs
) -> None:
    await define(world)
    await world.use_cases.catalog.run(SCOPE, ADMIN, ADD, ["a", 1], "batch")
    assert runs.args[0]["args"] == ["a", 1] and runs.args[0]["time_limit"] == 600
    assert runs.args[0]["labels"]["origin"] == "batch"


async def test_too_few_arguments_say_how_many_are_required(world: World, runs: Runs) -> None:
    await define(world, task_arguments=[{"type": "input", "label": "a"},
                                        {"type": "fixed", "value": 1},
                                        {"type": "input", "label": "b"}])  # fmt: skip
    catalog = world.use_cases.catalog
    with pytest.raises(BadRequest, match="too few arguments: the task requires 2, 1 given"):
        await catalog.run(SCOPE, Principal("ops", Role.admin), ADD, ["x"], "token")
    with pytest.raises(BadRequest, match="too many"):
        await catalog.run(SCOPE, ADMIN, ADD, ["x", "y", "z"], "token")
    assert runs.args == []


async def test_a_viewer_or_a_token_the_acl_does_not_name_cannot_run(
    world: World, runs: Runs
) -> None:
    await define(world, acl=["grafana"])
    with pytest.raises(Forbidden):
        await world.use_cases.catalog.run(SCOPE, VIEWER, ADD, [], "token")
    with pytest.raises(NotFound):
        await world.use_cases.catalog.run(SCOPE, OPERATOR, ADD, [], "token")
    assert runs.args == []


async def test_one_run_at_a_time_refuses_while_one_is_active(world: World, runs: Runs) -> None:
    await define(world, multitasking=False)
    catalog = world.use_cases.catalog
    first = await catalog.run(SCOPE, ADMIN, ADD, [], "token")
    with pytest.raises(Conflict, match=f"one run at a time, and job {first['id']} is still"):
        await catalog.run(SCOPE, ADMIN, ADD, [], "token")
    world.read_models.tasks.docs[first["id"]]["lost"] = True  # its worker died
    second = await catalog.run(SCOPE, ADMIN, ADD, [], "token")
    world.read_models.tasks.docs[second["id"]]["state"] = "SUCCESS"
    await catalog.run(SCOPE, ADMIN, ADD, [], "token")
    assert len(runs.args) == 3


async def test_a_key_is_issued_once_and_a_rotation_stops_the_old_one_at_once(
    world: World, runs: Runs
) -> None:
    await define(world)
    catalog = world.use_cases.catalog
    first = await catalog.credentials(SCOPE, ADMIN, ADD)
    assert len(first["secret"]) == 64 and await catalog.credentials(SCOPE, ADMIN, ADD) == first
    job = await catalog.run_with_key("default", ADD, first["secret"], [])
    assert (job["origin"], job["user"]) == ("secret", "anonymous")
    assert world.sender.requests[-1].actor == "anonymous"
    rotated = await catalog.rotate_key(SCOPE, ADMIN, ADD)
    assert rotated["secret"] != first["secret"]
    with pytest.raises(Forbidden):
        await catalog.run_with_key("default", ADD, first["secret"], [])
    await catalog.run_with_key("default", ADD, rotated["secret"], [])
    types = [t for t, _ in world.publisher.published]
    assert types.count(own_events.CATALOG_KEY_ROTATED) == 2
    [refused] = [e for t, e in world.publisher.published if t == own_events.CATALOG_KEY_REFUSED]
    assert (refused["actor"], refused["entry"], refused["reason"]) == (
        "anonymous",
        ADD,
        "wrong key",
    )
    assert all(first["secret"] not in repr(e) for _, e in world.publisher.published)


@pytest.mark.parametrize(
    ("customer", "key", "reason"),
    [
        ("default", "abc", "the key is not 64 characters"),
        ("default", "0" * 64, "the entry has no key"),
        ("acme", None, "no such task in this organisation"),
    ],
)
async def test_every_refused_key_is_recorded(
    world: World, runs: Runs, customer: str, key: str | None, reason: str
) -> None:
    await define(world)
    if key is None:
        key = (await world.use_cases.catalog.credentials(SCOPE, ADMIN, ADD))["secret"]
    with pytest.raises(Forbidden, match="invalid secret key"):
        await world.use_cases.catalog.run_with_key(customer, ADD, key, [])
    refused = [e for t, e in world.publisher.published if t == own_events.CATALOG_KEY_REFUSED]
    assert [(e["org"], e["reason"]) for e in refused] == [(customer, reason)]
    assert runs.args == []


async def test_a_deleted_entry_is_gone_with_its_key_until_imported_again(world: World) -> None:
    await define(world)
    catalog = world.use_cases.catalog
    await catalog.credentials(SCOPE, ADMIN, ADD)
    assert await catalog.delete(SCOPE, ADMIN, ADD) is None
    with pytest.raises(NotFound):
        await catalog.get(SCOPE, ADMIN, ADD)
    assert await catalog.entries(SCOPE, ADMIN) == []
    assert world.catalog_keys.keys == {}
    await define(world)
    assert (await catalog.get(SCOPE, ADMIN, ADD))["name"] == "demo.add"


async def test_jobs_show_their_lifecycle_to_who_may_see_the_entry(world: World, runs: Runs) -> None:
    await define(world, acl=["oncall"])
    catalog = world.use_cases.catalog
    job = await catalog.run(SCOPE, OPERATOR, ADD, [], "token")
    world.read_models.tasks.docs[job["id"]].update(state="STARTED")
    assert (await catalog.job(SCOPE, OPERATOR, job["id"]))["lifecycle"] == "started"
    with pytest.raises(NotFound):
        await catalog.job(SCOPE, VIEWER, job["id"])
    world.read_models.tasks.add(task("plain", "SUCCESS"))
    with pytest.raises(NotFound):
        await catalog.job(SCOPE, ADMIN, "plain")  # not a catalog run


async def test_clearing_jobs_removes_the_finished_runs_only(world: World, runs: Runs) -> None:
    await define(world)
    catalog = world.use_cases.catalog
    ids = [(await catalog.run(SCOPE, ADMIN, ADD, [], "token"))["id"] for _ in range(3)]
    for job_id in ids[:2]:
        world.read_models.tasks.docs[job_id]["state"] = "SUCCESS"
    assert await catalog.clear_jobs(SCOPE, ADMIN, ADD) == 2
    with pytest.raises(NotFound):
        await catalog.job(SCOPE, ADMIN, ids[0])
    assert (await catalog.job(SCOPE, ADMIN, ids[2]))["status"] == "PENDING"
    deleted = [e for t, e in world.publisher.published if t == own_events.TASK_DELETED]
    assert sorted(e["uuid"] for e in deleted) == ids[:2]
    assert await catalog.clear_jobs(SCOPE, ADMIN, ADD) == 0


async def test_a_run_answers_the_job_as_sent_when_the_projector_is_behind(world: World) -> None:
    await define(world)
    world.sender.reply = lambda request: ok_reply(request, result="late1")
    job = await world.use_cases.catalog.run(SCOPE, ADMIN, ADD, ["x"], "token")
    assert (job["id"], job["status"], job["task_arguments_values"]) == ("late1", "PENDING", ["x"])
    assert (job["origin"], job["user"], job["task_id"]) == ("token", "root", ADD)


ROOT = Principal("root", Role.admin, org=None)
ACME_ADMIN = Principal("acme/boss", Role.admin, org="acme")
ACME_OPS = Principal("acme/ops", Role.operator, org="acme")


async def acme(world: World) -> Scope:
    """An organisation with a cluster of its own; its scope, as its tokens get it."""
    await world.use_cases.orgs.create("acme", "Acme", ROOT)
    await world.use_cases.orgs.assign("acme", "acme-prod", ROOT)
    return await world.use_cases.catalog.scope("acme", ACME_ADMIN)


async def test_an_organisation_sees_and_runs_only_the_entries_of_its_clusters(
    world: World, runs: Runs
) -> None:
    scope = await acme(world)
    catalog = world.use_cases.catalog
    await define(world)  # in the default organisation's cluster
    recipe = RecipeImport(task=RecipeTask(name="report", acl=["ops"]))
    imported = await catalog.import_recipe(scope, ACME_ADMIN, recipe)
    ident = entry_id("acme-prod", "report")
    assert imported.entry_id == ident and world.publisher.apps[-1] == "acme-prod"
    assert [e["name"] for e in await catalog.entries(scope, ACME_ADMIN)] == ["report"]
    default = await catalog.scope("default", ADMIN)
    assert [e["name"] for e in await catalog.entries(default, ADMIN)] == ["demo.add"]
    with pytest.raises(NotFound):
        await catalog.get(scope, ACME_ADMIN, ADD)
    with pytest.raises(NotFound):
        await catalog.get(default, ADMIN, ident)
    with pytest.raises(NotFound, match="organisation"):
        await catalog.scope("acme", Principal("boss", Role.admin))  # the default org's admin

    job = await catalog.run(scope, ACME_OPS, ident, [], "token")  # "ops" in acme's ACL
    assert world.sender.apps == ["acme-prod"] and job["customer_name"] == "acme"
    assert runs.args[0]["labels"]["started_by"] == "acme/ops"
    root_scope = await catalog.scope("acme", ROOT)
    assert (await catalog.job(root_scope, ROOT, job["id"]))["task_id"] == ident


async def test_a_key_of_one_organisation_does_not_open_it_in_another(
    world: World, runs: Runs
) -> None:
    scope = await acme(world)
    catalog = world.use_cases.catalog
    await catalog.import_recipe(scope, ACME_ADMIN, RecipeImport(task=RecipeTask(name="report")))
    ident = entry_id("acme-prod", "report")
    key = (await catalog.credentials(scope, ACME_ADMIN, ident))["secret"]
    with pytest.raises(Forbidden):
        await catalog.run_with_key("default", ident, key, [])
    assert (await catalog.run_with_key("acme", ident, key, []))["origin"] == "secret"
    [refused] = [e for t, e in world.publisher.published if t == own_events.CATALOG_KEY_REFUSED]
    assert (refused["org"], refused["reason"]) == ("default", "no such task in this organisation")
