"""Organisations through the service layer, over the fakes: each caller's scope (and how
often the directory is read), creating organisations and giving them clusters, and every
use case kept inside the caller's scope, commands sent to the cluster they concern."""

from __future__ import annotations

import pytest
from tasktrail_api.domain.errors import BadRequest, Conflict, Forbidden, NotFound
from tasktrail_api.domain.filters import EventFilters, TaskFilters, WorkerFilters
from tasktrail_api.domain.principals import DEFAULT_ORG, Principal, Role
from tasktrail_api.domain.scope import EVERYTHING, Scope
from tasktrail_api.usecases.writes import TASK, WORKER
from tasktrail_shared import own_events

from tests.unit.api.fakes import ADMIN, NOW, World, ok_reply, task, worker

ACME_ADMIN = Principal("acme/boss", Role.admin, org="acme")
GLOBEX_ADMIN = Principal("globex/boss", Role.admin, org="globex")
HOME = Principal("home", Role.admin)
"""The default organisation's."""


@pytest.fixture
def world() -> World:
    return World(app="home")


async def two_orgs(world: World) -> None:
    """acme owns cluster a, globex owns b; the default organisation keeps the rest."""
    orgs = world.use_cases.orgs
    for slug, app in (("acme", "a"), ("globex", "b")):
        await orgs.create(slug, slug.title(), ADMIN)
        await orgs.assign(slug, app, ADMIN)
    world.read_models.tasks.add(
        task("a-1", "STARTED", app="a"), task("b-1", "STARTED", app="b"),
        task("h-1", "STARTED", app="home"), task("x-1", "STARTED", app="x"),
    )  # fmt: skip
    world.read_models.workers.add(
        {**worker("w@a", online=True), "app": "a"}, {**worker("w@b", online=True), "app": "b"},
        {**worker("w@h", online=True), "app": "home"},
    )  # fmt: skip


# --- scopes -----------------------------------------------------------------------------------


async def test_a_single_team_reads_with_no_condition(world: World) -> None:
    scope = await world.use_cases.orgs.scope(HOME)
    assert scope == Scope(DEFAULT_ORG) and scope.condition() == {}
    assert await world.use_cases.orgs.scope(ADMIN) is EVERYTHING


async def test_each_organisation_sees_its_clusters_and_the_default_the_rest(
    world: World,
) -> None:
    await two_orgs(world)
    orgs = world.use_cases.orgs
    assert await orgs.scope(ACME_ADMIN) == Scope.of("acme", ["a"])
    assert await orgs.scope(HOME) == Scope(DEFAULT_ORG, excluded=frozenset({"a", "b"}))
    assert await orgs.scope(Principal("x", Role.viewer, org="gone")) == Scope.of("gone", [])
    assert await orgs.clusters(await orgs.scope(HOME)) == ["home"]
    assert await orgs.clusters(EVERYTHING) == ["a", "b", "home"]


async def test_the_directory_is_read_about_once_a_second_and_after_each_change(
    world: World,
) -> None:
    orgs, reads = world.use_cases.orgs, world.read_models.orgs
    await orgs.scope(HOME)
    await orgs.scope(ACME_ADMIN)
    assert reads.reads == 1
    await orgs.scope(ADMIN)  # root: no read at all
    world.clock.elapsed += 1.5
    await orgs.scope(HOME)
    assert reads.reads == 2
    await orgs.create("acme", "Acme", ADMIN)  # reads before (taken?) and after (shown)
    before = reads.reads
    assert await orgs.scope(ACME_ADMIN) == Scope.of("acme", [])
    assert reads.reads == before


async def test_only_root_changes_organisations(world: World) -> None:
    with pytest.raises(Forbidden, match="root"):
        await world.use_cases.orgs.create("acme", "Acme", HOME)
    with pytest.raises(Forbidden, match="root"):
        await world.use_cases.orgs.assign(DEFAULT_ORG, "a", HOME)
    assert world.publisher.published == []


async def test_creating_and_assigning_publish_and_answer_as_projected(world: World) -> None:
    orgs = world.use_cases.orgs
    created = await orgs.create("acme", "Acme", ADMIN)
    assert created.shown == {"slug": "acme", "name": "Acme", "clusters": [],
                             "owns_unassigned": False, "created": None,
                             "created_by": None}  # fmt: skip
    given = await orgs.assign("acme", "a", ADMIN)
    assert given.shown is not None and given.shown["clusters"] == ["a"]
    assert [t for t, _ in world.publisher.published] == [
        own_events.ORG_CREATED,
        own_events.ORG_CLUSTER_ASSIGNED,
    ]
    assert world.publisher.published[1][1] == {
        "at": NOW.timestamp(), "actor": "root", "app": "a", "org": "acme"
    }  # fmt: skip
    with pytest.raises(Conflict):
        await orgs.create("acme", "Again", ADMIN)
    with pytest.raises(Conflict):
        await orgs.create(DEFAULT_ORG, "Default", ADMIN)
    with pytest.raises(NotFound, match="organisation"):
        await orgs.assign("nope", "a", ADMIN)
    default = await orgs.get(DEFAULT_ORG, ADMIN)
    assert default["clusters"] == ["home"] and default["owns_unassigned"] is True


async def test_a_change_not_projected_in_time_is_accepted(world: World) -> None:
    world.publisher.projecting = False
    written = await world.use_cases.orgs.create("acme", "Acme", ADMIN)
    assert written.shown is None and written.accepted is not None
    assert world.clock.elapsed == pytest.approx(world.settings.api_write_wait)


async def test_each_caller_lists_its_own_organisation(world: World) -> None:
    await two_orgs(world)
    orgs = world.use_cases.orgs
    assert [o["slug"] for o in await orgs.list(ADMIN)] == ["acme", "default", "globex"]
    assert [o["slug"] for o in await orgs.list(ACME_ADMIN)] == ["acme"]
    with pytest.raises(NotFound):
        await orgs.get("globex", ACME_ADMIN)


async def test_the_cluster_of_a_command_that_names_none(world: World) -> None:
    await two_orgs(world)
    orgs = world.use_cases.orgs
    acme = await orgs.scope(ACME_ADMIN)
    assert await orgs.cluster_for(acme, None) == "a"
    assert await orgs.cluster_for(EVERYTHING, None) == "home"
    assert await orgs.cluster_for(EVERYTHING, "b") == "b"
    with pytest.raises(NotFound, match="cluster"):
        await orgs.cluster_for(acme, "b")
    await orgs.assign("acme", "a2", ADMIN)
    with pytest.raises(BadRequest, match=r"^app: give the cluster, one of: a, a2"):
        await orgs.cluster_for(await orgs.scope(ACME_ADMIN), None)
    with pytest.raises(BadRequest, match="owns no cluster"):
        await orgs.cluster_for(Scope.of("empty", []), None)


# --- every use case inside the scope -------------------------------------------------------


async def test_reads_show_only_what_the_scope_sees(world: World) -> None:
    await two_orgs(world)
    use_cases = world.use_cases
    acme, home = await use_cases.orgs.scope(ACME_ADMIN), await use_cases.orgs.scope(HOME)
    assert [t["id"] for t in (await use_cases.tasks.list(TaskFilters(), {}, acme)).items] == ["a-1"]
    page = await use_cases.tasks.list(TaskFilters(), {}, home)
    assert sorted(t["id"] for t in page.items) == ["h-1", "x-1"] and page.count == 2
    assert (await use_cases.tasks.list(TaskFilters(app="b"), {}, acme)).count == 0
    with pytest.raises(NotFound):
        await use_cases.tasks.get("b-1", acme)
    assert (await use_cases.workers.list(WorkerFilters(), acme)).count == 1
    with pytest.raises(NotFound):
        await use_cases.workers.get("w@b", acme)
    dashboard = await use_cases.dashboard.get(acme)
    assert dashboard["task"]["task_started"] == 1 and dashboard["worker"]["worker_online"] == 1
    everything = await use_cases.dashboard.get(EVERYTHING)
    assert everything["task"]["task_started"] == 4  # each scope counts for itself


async def test_the_history_of_another_organisation_s_task_is_not_found(world: World) -> None:
    await two_orgs(world)
    world.read_models.messages += [
        {"_id": "m1", "uuids": ["b-1"], "app": "b", "timestamp": NOW,
         "events": [{"uuid": "b-1", "index": 0, "type": "task-started", "timestamp": NOW}]},
        {"_id": "m2", "uuids": [], "app": None, "org": "globex", "timestamp": NOW,
         "events": [{"uuid": None, "index": 0, "type": "tasktrail.token.created"}]},
        {"_id": "m3", "uuids": [], "app": None, "org": "acme", "timestamp": NOW,
         "events": [{"uuid": None, "index": 0, "type": "tasktrail.token.created"}]},
    ]  # fmt: skip
    audit, acme = world.use_cases.audit, await world.use_cases.orgs.scope(ACME_ADMIN)
    with pytest.raises(NotFound):
        await audit.task_history("b-1", EventFilters(), acme)
    assert [e["id"] for e in (await audit.events(EventFilters(), acme)).items] == ["m3:0"]
    every = await audit.events(EventFilters(), EVERYTHING)
    assert sorted(e["id"] for e in every.items) == ["m1:0", "m2:0", "m3:0"]
    exported = [e["id"] async for chunk in audit.export(EventFilters(), acme) for e in chunk]
    assert exported == ["m3:0"]


async def test_writes_stay_in_the_scope_and_go_to_the_document_s_cluster(world: World) -> None:
    await two_orgs(world)
    writes, acme = world.use_cases.writes, await world.use_cases.orgs.scope(ACME_ADMIN)
    for change in (
        writes.amend(TASK, "b-1", {"name": "x"}, ACME_ADMIN, acme),
        writes.delete(WORKER, "w@b", ACME_ADMIN, acme),
        writes.record(TASK, "b-1", {}, ACME_ADMIN, acme),
    ):
        with pytest.raises(NotFound):
            await change
    assert world.publisher.published[-1][0] == own_events.ORG_CLUSTER_ASSIGNED  # nothing new
    await writes.record(TASK, "a-2", {}, ACME_ADMIN, acme)
    await writes.amend(TASK, "h-1", {"name": "y"}, ADMIN, EVERYTHING)
    await writes.record(WORKER, "w@new", {}, ADMIN, EVERYTHING, "b")
    assert world.publisher.apps[-3:] == ["a", "home", "b"]
    assert world.read_models.tasks.docs["a-2"]["app"] == "a"


async def test_commands_go_to_each_object_s_cluster_and_stop_at_the_scope(
    world: World,
) -> None:
    await two_orgs(world)
    commands, sender = world.use_cases.commands, world.sender
    acme = await world.use_cases.orgs.scope(ACME_ADMIN)
    with pytest.raises(NotFound, match="task b-1 not found"):
        await commands.send_in(acme, "revoke", {"ids": ["a-1", "b-1"]}, ACME_ADMIN)
    with pytest.raises(NotFound, match="worker nobody not found"):
        await commands.send_in(acme, "ping", {"names": ["nobody"]}, ACME_ADMIN)
    with pytest.raises(NotFound, match="cluster"):
        await commands.send_in(acme, "purge", {"queue": "q"}, ACME_ADMIN, app="b")
    assert sender.requests == []

    await commands.send_in(acme, "ping", {}, ACME_ADMIN)
    await commands.send_in(acme, "run", {"name": "demo.add"}, ACME_ADMIN)
    assert sender.apps == ["a", "a"]
    # root: each id to its cluster, an unknown one to the API's own; one key per cluster
    reply = await commands.send_in(
        EVERYTHING, "revoke", {"ids": ["b-1", "a-1", "never-seen"]}, ADMIN, "k"
    )
    revokes = zip(world.sender.apps[2:], world.sender.requests[2:], strict=True)
    assert {(app, r.id): r.args["ids"] for app, r in revokes} == {
        ("a", "root/k#a"): ["a-1"],
        ("b", "root/k#b"): ["b-1"],
        ("home", "root/k#home"): ["never-seen"],
    }
    assert reply.ok and list(reply.workers) == ["celery@a"]


async def test_sync_refresh_and_retry_in_a_scope(world: World) -> None:
    await two_orgs(world)
    world.sender.reply = lambda request: ok_reply(request, len(request.args.get("ids") or []))
    use_cases, acme = world.use_cases, await world.use_cases.orgs.scope(ACME_ADMIN)
    assert await use_cases.tasks.sync_all(ACME_ADMIN, None, acme) == 1
    assert world.sender.apps == ["a"] and world.sender.requests[0].args == {"ids": ["a-1"]}
    assert await use_cases.tasks.sync_all(ADMIN, "s", EVERYTHING) == 4
    assert world.sender.apps[1:] == ["a", "b", "home", "x"]
    assert [r.id for r in world.sender.requests[1:]] == ["root/s#0", "root/s#1", "root/s#2",
                                                        "root/s#3"]  # fmt: skip
    with pytest.raises(NotFound):
        await use_cases.tasks.get_synced("b-1", ACME_ADMIN, None, acme)
    with pytest.raises(NotFound):
        await use_cases.tasks.get_synced("never-seen", ACME_ADMIN, None, acme)
    with pytest.raises(NotFound):
        await use_cases.tasks.retry("b-1", ACME_ADMIN, None, acme)
    shown = await use_cases.workers.refresh(ACME_ADMIN, None, acme)
    assert shown["expected"] == ["w@a"] and world.sender.apps[-1] == "a"
    assert world.sender.requests[-1].args == {"names": None, "expected": ["w@a"]}


# --- tokens of organisations ---------------------------------------------------------------


async def test_an_organisation_s_admin_makes_tokens_only_in_its_own(world: World) -> None:
    await two_orgs(world)
    tokens = world.use_cases.tokens
    for org in ("globex", "nope"):
        with pytest.raises(NotFound, match="organisation"):
            await tokens.create("t", "viewer", ACME_ADMIN, org)
    with pytest.raises(Forbidden, match="root tokens"):
        await tokens.create("t", "viewer", ACME_ADMIN, None)
    with pytest.raises(NotFound, match="organisation"):
        await tokens.create("t", "viewer", ADMIN, "nope")
    secret, shown = await tokens.create("t", "operator", ACME_ADMIN, "acme")
    assert (shown["name"], shown["org"]) == ("t", "acme")
    assert await tokens.identify(secret) == Principal("acme/t", Role.operator, org="acme")
    await tokens.create("t", "viewer", ADMIN, "globex")  # the same name in another one
    root_secret, root = await tokens.create("ops", "viewer", ADMIN, None)
    assert root["org"] is None and (await tokens.identify(root_secret)).is_root
    assert [(t["name"], t["org"]) for t in await tokens.list(ACME_ADMIN)] == [("t", "acme")]
    assert len(await tokens.list(ADMIN)) == 3
    with pytest.raises(NotFound, match="token"):
        await tokens.revoke("t", ACME_ADMIN, "globex")
    with pytest.raises(NotFound, match="token"):
        await tokens.revoke("ops", ACME_ADMIN, None)
    await tokens.revoke("t", ADMIN, "globex")
    assert [(t["name"], t["org"]) for t in await tokens.list(ADMIN)] == [
        ("t", "acme"),
        ("ops", None),
    ]
    assert world.publisher.published[-1][1]["org"] == "globex"
