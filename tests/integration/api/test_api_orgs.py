"""Organisations over HTTP and the CLI, against the real projector, MongoDB(-wire) and NATS,
with a control stand-in answering on each cluster's subject.

Two organisations, acme and globex, each own a cluster with tasks, workers and history; the
default organisation keeps the API's own cluster. Everything of globex's is named
``globex...``, so that "nothing of B shows" is "the word globex appears nowhere" in what
acme's admin is answered. The walks go over every route of the app's OpenAPI description,
so a route added later is walked too (or the walk fails, asking what to fill it with).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import pytest
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.envelope import SEED001_PATHS
from tasktrail_api.main import main
from tasktrail_api.settings import Settings
from tasktrail_shared.alerts import ALERT_INCIDENTS
from tasktrail_shared.catalog import entry_id
from tasktrail_shared.commands import CONTROL_QUEUE_GROUP, control_subject

from tests.integration.api.conftest import FakeControl
from tests.integration.api.support import Doc, count_tasks, task_doc, worker_doc
from tests.integration.api.test_api_audit import eventually, publish_command
from tests.integration.api.test_api_tasks import assert_error, assert_ok

pytestmark = pytest.mark.usefixtures("projector")

A_TASKS = ["acme-task-1", "acme-task-2"]
B_TASK, B_WORKER, B_TOKEN = "globex-task-1", "celery@globex-w1", "globex-admin"
A_WORKER = "celery@acme-w1"
B_SCHEDULER, B_JOB = "b-billing", "b-charge"
"""globex's scheduler and its job (reported by globex's token: globex's)."""


@dataclass(frozen=True)
class TwoOrgs:
    """acme (A) and globex (B), each owning a cluster; tokens of each; control stand-ins."""

    home: str
    """The API's own cluster, the default organisation's."""
    a_app: str
    b_app: str
    a_admin: dict[str, str]
    b_admin: dict[str, str]
    controls: dict[str, FakeControl]
    b_alerts: dict[str, str] = field(default_factory=dict)
    """globex's alert objects by path parameter: a channel, a rule, a silence, an incident."""

    def sent_to(self, app: str) -> list[str]:
        return [r.command for r in self.controls[app].requests]


@pytest.fixture
async def controls(nats_url: str, settings: Settings) -> AsyncIterator[dict[str, FakeControl]]:
    """One control stand-in per cluster: the API's own, acme's and globex's."""
    apps = [settings.app, f"{settings.app}-acme", f"{settings.app}-globex"]
    fakes = {app: FakeControl() for app in apps}
    nc = await nats.connect(nats_url)
    for app, fake in fakes.items():
        await nc.subscribe(control_subject(app), queue=CONTROL_QUEUE_GROUP, cb=fake.handle)
    await nc.flush()
    yield fakes
    await nc.close()


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


Cli = Callable[..., Awaitable[Ran]]


@pytest.fixture
def cli(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Cli:
    """``tasktrail-api`` with this test's settings, in a thread of its own: the projector
    keeps running meanwhile (the CLI waits for it to apply what it writes)."""
    env = {"TASKTRAIL_MONGO_URL": settings.mongo_url, "TASKTRAIL_MONGO_DB": settings.mongo_db,
           "TASKTRAIL_NATS_URL": settings.nats_url, "TASKTRAIL_APP": settings.app}  # fmt: skip
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    async def run(*args: str) -> Ran:
        capsys.readouterr()
        code = await asyncio.to_thread(main, list(args))
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    return run


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def new_token(client: httpx.AsyncClient, name: str, role: str, org: str | None) -> str:
    response = await client.post("/monitor/tokens", json={"name": name, "role": role, "org": org})
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["secret"])


async def record_task(client: httpx.AsyncClient, uuid: str, app: str, **fields: Any) -> None:
    body = {"uuid": uuid, "app": app, "name": "demo.add", **fields}
    response = await client.post("/monitor/tasks", json=body)
    assert response.status_code == 201, response.text


@pytest.fixture
async def orgs(
    client: httpx.AsyncClient,
    db: AsyncDatabase[Doc],
    settings: Settings,
    controls: dict[str, FakeControl],
    nats_url: str,
) -> TwoOrgs:
    a_app, b_app = f"{settings.app}-acme", f"{settings.app}-globex"
    for slug, name, app in (("acme", "Acme", a_app), ("globex", "Globex", b_app)):
        created = await client.post("/monitor/orgs", json={"slug": slug, "name": name})
        assert created.status_code == 201, created.text
        assert_ok(await client.post(f"/monitor/orgs/{slug}/clusters", json={"app": app}))
    a_admin = bearer(await new_token(client, "acme-admin", "admin", "acme"))
    b_admin = bearer(await new_token(client, B_TOKEN, "admin", "globex"))
    for uuid in A_TASKS:
        await record_task(client, uuid, a_app, status="STARTED", args="(1, 2)", kwargs="{}")
    await record_task(client, B_TASK, b_app, status="STARTED", args="(1, 2)", kwargs="{}")
    await record_task(client, "home-task-1", settings.app)
    await db.workers.insert_many(
        [
            worker_doc(A_WORKER, online=True, active=1, app=a_app),
            worker_doc(B_WORKER, online=True, active=5, app=b_app),
            worker_doc("celery@home-w1", online=True, app=settings.app),
        ]
    )
    await publish_command(nats_url, b_app, "globex-ops", "revoke", {"ids": [B_TASK]})
    report = {"event_code": 512, "alias": B_SCHEDULER, "job_id": B_JOB, "task": "b:charge"}
    assert (await client.post("/event", json=report, headers=b_admin)).status_code == 200
    await _eventually_ok(client, f"/monitor/schedulers/{B_SCHEDULER}/jobs/{B_JOB}", b_admin)
    # 2 orgs created, 2 assignments, 2 tokens, 4 tasks, 1 command: all projected
    await eventually(client, "/monitor/events", 11)
    b_alerts = await globex_alerts(api_as(client, b_admin), db)
    return TwoOrgs(settings.app, a_app, b_app, a_admin, b_admin, controls, b_alerts)


def api_as(client: httpx.AsyncClient, headers: dict[str, str]) -> Callable[..., Any]:
    async def call(method: str, path: str, body: Any = None) -> Any:
        response = await client.request(method, path, json=body, headers=headers)
        assert response.status_code in (200, 201), response.text
        return response.json()["data"]

    return call


async def globex_alerts(call: Callable[..., Any], db: AsyncDatabase[Doc]) -> dict[str, str]:
    """A channel, a rule, a silence and an incident of globex's."""
    hook = {"url": "http://127.0.0.1:9/", "secret": "s"}
    channel = (
        await call(
            "POST",
            "/monitor/alerts/channels",
            {"name": "globex-hook", "type": "webhook", "config": hook},
        )
    )["channel"]
    rule = (await call("POST", "/monitor/alerts/rules",
                       {"name": "globex-rule", "kind": "task_failed",
                        "channels": [channel["id"]]}))["rule"]  # fmt: skip
    silence = (
        await call(
            "POST",
            "/monitor/alerts/silences",
            {"rule": rule["id"], "until": "2999-01-01T00:00:00Z"},
        )
    )["silence"]
    await db[ALERT_INCIDENTS].insert_one(
        {"_id": "globex-incident", "org": "globex", "app": "x", "rule": {"id": rule["id"]},
         "key": "k", "state": "firing", "started_at": datetime.now(UTC)}
    )  # fmt: skip
    return {"channel_id": channel["id"], "rule_id": rule["id"], "silence_id": silence["id"],
            "incident_id": "globex-incident"}  # fmt: skip


async def _eventually_ok(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> None:
    async with asyncio.timeout(20):
        while (await client.get(path, headers=headers)).status_code != 200:
            await asyncio.sleep(0.05)


# --- organisations, assignments, the default organisation ------------------------------------


async def test_root_creates_organisations_and_gives_them_clusters(
    client: httpx.AsyncClient, api: httpx.AsyncClient, orgs: TwoOrgs
) -> None:
    listed = assert_ok(await client.get("/monitor/orgs"))["orgs"]
    assert [(o["slug"], o["name"], o["clusters"]) for o in listed] == [
        ("acme", "Acme", [orgs.a_app]),
        ("default", "Default", [orgs.home]),
        ("globex", "Globex", [orgs.b_app]),
    ]
    assert [o["owns_unassigned"] for o in listed] == [False, True, False]
    assert listed[0]["created_by"] == "admin" and listed[0]["created"] is not None
    mine = assert_ok(await api.get("/monitor/orgs", headers=orgs.a_admin))["orgs"]
    assert [o["slug"] for o in mine] == ["acme"]
    assert assert_ok(await api.get("/monitor/orgs/acme", headers=orgs.a_admin))["org"] == mine[0]
    assert_error(await client.post("/monitor/orgs", json={"slug": "acme", "name": "x"}), 409)
    assert_error(await client.post("/monitor/orgs", json={"slug": "default", "name": "x"}), 409)
    assert_error(await client.post("/monitor/orgs/nope/clusters", json={"app": "x"}), 404)

    audit = assert_ok(await client.get("/monitor/events", params={"type": "tasktrail.org.*"}))
    assert sorted((e["type"], e["actor"]) for e in audit["events"]) == [
        ("tasktrail.org.cluster_assigned", "admin"),
        ("tasktrail.org.cluster_assigned", "admin"),
        ("tasktrail.org.created", "admin"),
        ("tasktrail.org.created", "admin"),
    ]
    own = assert_ok(
        await api.get("/monitor/events", params={"type": "tasktrail.org.*"}, headers=orgs.a_admin)
    )
    assert {
        (e["type"], str(e["event"].get("slug") or e["event"]["org"])) for e in own["events"]
    } == {
        ("tasktrail.org.created", "acme"),
        ("tasktrail.org.cluster_assigned", "acme"),
    }


async def test_the_latest_assignment_owns_a_cluster(
    client: httpx.AsyncClient, api: httpx.AsyncClient, orgs: TwoOrgs
) -> None:
    assert_error(await api.get(f"/monitor/tasks/{B_TASK}", headers=orgs.a_admin), 404)
    moved = assert_ok(await client.post("/monitor/orgs/acme/clusters", json={"app": orgs.b_app}))
    assert moved["org"]["clusters"] == sorted([orgs.a_app, orgs.b_app])
    seen = assert_ok(await api.get(f"/monitor/tasks/{B_TASK}", headers=orgs.a_admin))
    assert seen["celerytask"]["app"] == orgs.b_app
    assert_error(await api.get(f"/monitor/tasks/{B_TASK}", headers=orgs.b_admin), 404)
    assert assert_ok(await api.get("/monitor/tasks", headers=orgs.b_admin))["count"] == 0
    # back to the default organisation: none of the others sees it any longer
    assert_ok(await client.post("/monitor/orgs/default/clusters", json={"app": orgs.b_app}))
    assert_error(await api.get(f"/monitor/tasks/{B_TASK}", headers=orgs.a_admin), 404)
    home = bearer(await new_token(client, "home-viewer", "viewer", "default"))
    assert assert_ok(await api.get(f"/monitor/tasks/{B_TASK}", headers=home))


async def test_the_default_organisation_owns_every_cluster_no_other_was_given(
    client: httpx.AsyncClient, api: httpx.AsyncClient, db: AsyncDatabase[Doc], orgs: TwoOrgs
) -> None:
    await db.tasks.insert_one(task_doc("elsewhere-1", "SUCCESS", app="unassigned-cluster"))
    await count_tasks(db)  # as the projector would: registers the cluster, counts the task
    home = bearer(await new_token(client, "home-viewer", "viewer", "default"))
    listed = assert_ok(await api.get("/monitor/tasks", headers=home))
    assert sorted(t["id"] for t in listed["celery_tasks"]) == ["elsewhere-1", "home-task-1"]
    assert listed["count"] == 2
    dashboard = assert_ok(await api.get("/monitor/tasks/dashboard", headers=home))
    assert (dashboard["task"]["task_pending"], dashboard["task"]["task_success"]) == (1, 1)
    assert dashboard["worker"]["worker_online"] == 1
    everything = assert_ok(await client.get("/monitor/tasks/dashboard"))  # root: every cluster
    assert everything["task"]["task_started"] == 3 and everything["worker"]["worker_online"] == 3
    assert_error(await api.get(f"/monitor/tasks/{A_TASKS[0]}", headers=home), 404)
    names = assert_ok(await api.get("/monitor/workers", headers=home))["celery_workers"]
    assert [w["name"] for w in names] == ["celery@home-w1"]
    mine = await eventually(api, "/monitor/events", 2, headers=home)
    assert {(e["uuid"], e["type"]) for e in mine["events"]} == {
        ("home-task-1", "tasktrail.task.recorded"),
        (None, "tasktrail.token.created"),  # its own, home-viewer's
    }
    assert "globex" not in str(mine) and "acme" not in str(mine)


async def test_the_cli_manages_organisations(
    client: httpx.AsyncClient, api: httpx.AsyncClient, settings: Settings, cli: Cli
) -> None:
    made = await cli("orgs", "create", "--slug", "initech", "--name", "Initech")
    assert made.returncode == 0, made.stderr
    assert made.stdout.split("\t")[:2] == ["initech", "Initech"], made.stderr
    given = await cli("orgs", "assign", "--slug", "initech", "--app", "tps")
    assert given.returncode == 0, given.stderr
    assert given.stdout.strip().split("\t") == ["initech", "Initech", "tps"]
    listed = (await cli("orgs", "list")).stdout.splitlines()
    assert listed[1].split("\t") == ["initech", "Initech", "tps"]
    assert listed[0].startswith(f"default\tDefault\t{settings.app} (and every unassigned)")
    assert (await cli("orgs", "assign", "--slug", "nope", "--app", "x")).returncode == 1
    token = await cli("tokens", "create", "--name", "ci", "--role", "user", "--org", "initech")
    assert token.returncode == 0, token.stderr
    assert "(operator, initech)" in token.stderr
    caller = bearer(token.stdout.strip())
    assert [
        o["slug"] for o in assert_ok(await api.get("/monitor/orgs", headers=caller))["orgs"]
    ] == ["initech"]
    root = await cli("tokens", "create", "--name", "ops", "--role", "viewer", "--root")
    assert root.returncode == 0, root.stderr
    every = assert_ok(await api.get("/monitor/orgs", headers=bearer(root.stdout.strip())))
    assert [o["slug"] for o in every["orgs"]] == ["default", "initech"]
    audit = await eventually(client, "/monitor/events", 4, actor="cli")
    assert [e["type"] for e in audit["events"]][::-1] == [
        "tasktrail.org.created",
        "tasktrail.org.cluster_assigned",
        "tasktrail.token.created",
        "tasktrail.token.created",
    ]
    listed_tokens = (await cli("tokens", "list")).stdout.splitlines()
    assert sorted(line.split("\t")[-1] for line in listed_tokens) == ["(root)", "initech"]
    assert (await cli("tokens", "revoke", "--name", "ci")).returncode == 1  # not a default one
    assert (await cli("tokens", "revoke", "--name", "ci", "--org", "initech")).returncode == 0
    again = await cli("tokens", "revoke", "--name", "ci", "--org", "initech")
    assert again.returncode == 1 and "token not found" in again.stderr
    assert_error(await api.get("/monitor/orgs", headers=caller), 401)


# --- roles and tokens ----------------------------------------------------------------------


async def test_user_is_the_operator_role(
    client: httpx.AsyncClient, api: httpx.AsyncClient, orgs: TwoOrgs
) -> None:
    response = await client.post("/monitor/tokens", json={"name": "u", "role": "user"})
    assert response.status_code == 201, response.text
    token = response.json()["data"]
    assert token["token"]["role"] == "operator" and token["token"]["org"] is None  # root's
    user = bearer(await new_token(client, "acme-user", "user", "acme"))
    assert_ok(await api.post("/monitor/workers/ping", json={}, headers=user))
    assert_error(await api.post("/monitor/workers/shutdown", json={"names": [A_WORKER]},
                                headers=user), 403, "admin")  # fmt: skip
    assert_error(await api.get("/monitor/tokens", headers=user), 403)


async def test_an_organisation_s_admin_manages_only_its_own_tokens(
    client: httpx.AsyncClient, api: httpx.AsyncClient, orgs: TwoOrgs
) -> None:
    def ask(org: Any) -> dict[str, Any]:
        return {"name": "t1", "role": "viewer", "org": org}

    for org in ("globex", "nope"):  # another organisation and none: the same answer
        assert_error(await api.post("/monitor/tokens", json=ask(org), headers=orgs.a_admin), 404,
                     "organisation not found")  # fmt: skip
    assert_error(await api.post("/monitor/tokens", json=ask(None), headers=orgs.a_admin), 403,
                 "root")  # fmt: skip
    made = await api.post(
        "/monitor/tokens", json={"name": "t1", "role": "viewer"}, headers=orgs.a_admin
    )
    assert made.status_code == 201 and made.json()["data"]["token"]["org"] == "acme"
    # names are the organisation's: globex may have its own t1
    again = await api.post("/monitor/tokens", json=ask("globex"), headers=orgs.b_admin)
    assert again.status_code == 201, again.text
    listed = assert_ok(await api.get("/monitor/tokens", headers=orgs.a_admin))["tokens"]
    assert sorted(t["name"] for t in listed) == ["acme-admin", "t1"]
    assert {t["org"] for t in listed} == {"acme"}
    for params in ({}, {"org": "globex"}):
        assert_error(await api.delete(f"/monitor/tokens/{B_TOKEN}", params=params,
                                      headers=orgs.a_admin), 404)  # fmt: skip
    assert (await api.delete("/monitor/tokens/t1", headers=orgs.a_admin)).status_code == 204
    revoked, kept = (bearer(r.json()["data"]["secret"]) for r in (made, again))
    assert_error(await api.get("/monitor/tasks", headers=revoked), 401)
    assert_ok(await api.get("/monitor/tasks", headers=kept))
    root_view = assert_ok(await client.get("/monitor/tokens"))["tokens"]
    assert ("t1", "globex") in {(t["name"], t["org"]) for t in root_view}
    assert (await client.delete("/monitor/tokens/t1", params={"org": "globex"})).status_code == 204
    assert_error(await api.get("/monitor/tasks", headers=kept), 401)
    # what acme's admin did is acme's, under its qualified name; globex's is not shown to it
    params = {"type": "tasktrail.token.*", "actor": "acme/acme-admin"}
    own = await eventually(api, "/monitor/events", 2, headers=orgs.a_admin, **params)
    assert [(e["type"], e["event"]["name"], e["event"]["org"]) for e in own["events"]] == [
        ("tasktrail.token.revoked", "t1", "acme"),
        ("tasktrail.token.created", "t1", "acme"),
    ]
    theirs = {"type": "tasktrail.token.*", "actor": f"globex/{B_TOKEN}"}
    assert_ok(await client.get("/monitor/events", params=theirs))  # root sees both
    assert (
        assert_ok(await api.get("/monitor/events", params=theirs, headers=orgs.a_admin))["count"]
        == 0
    )


# --- the key test: nothing of another organisation, anywhere --------------------------------


def operations(schema: dict[str, Any], *, get: bool) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, ops in schema["paths"].items()
        for method in ops
        if (method == "get") == get
    }


def b_values(orgs: TwoOrgs) -> dict[str, str]:
    """What globex's objects are called, by path parameter (a route with another parameter
    fails the walk until it is named here)."""
    return {
        "task_id": B_TASK,
        "worker_id": B_WORKER,
        "slug": "globex",
        "customer": "globex",
        "name": B_TOKEN,
        **orgs.b_alerts,
        "entry_id": entry_id(orgs.b_app, "demo.add"),
        "job_id": B_TASK,
        "key": "0" * 64,
        "alias": B_SCHEDULER,
        "job": B_JOB,
    }


def assert_not_found(response: httpx.Response, path: str) -> None:
    """A 404, in the shape of the route's family (seed 001's routes answer TheEye's)."""
    if SEED001_PATHS.match(path):
        assert response.status_code == 404, response.text
        assert response.json()["statusCode"] == 404
    else:
        assert_error(response, 404)


def filled(path: str, values: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        assert match[1] in values, f"the walk has no value of B's for {{{match[1]}}} in {path}"
        return values[match[1]]

    return re.sub(r"{(\w+)}", value, path)


async def test_every_get_route_hides_the_other_organisation(
    client: httpx.AsyncClient, api: httpx.AsyncClient, orgs: TwoOrgs
) -> None:
    schema = (await client.get("/openapi.json")).json()
    walked = 0
    for _, path in sorted(operations(schema, get=True)):
        response = await api.get(filled(path, b_values(orgs)), headers=orgs.a_admin)
        walked += 1
        if "{" in path:  # names one of B's objects
            assert_not_found(response, path)
            continue
        assert response.status_code in (200, 205), (path, response.text)
        assert "globex" not in response.text.lower(), (path, response.text)
    assert walked >= 15
    # the same objects named another way, and lists filtered to B's
    for path in (f"/monitor/tasks/{B_TASK}?sync", f"/monitor/workers/{worker_uuid(orgs)}"):
        assert_error(await api.get(path, headers=orgs.a_admin), 404)
    for path, params in (
        ("/monitor/tasks", {"app": orgs.b_app}),
        ("/monitor/tasks", {"uuid": B_TASK}),
        ("/monitor/workers", {"app": orgs.b_app}),
        ("/monitor/events", {"uuid": B_TASK}),
        ("/monitor/events", {"actor": "globex-ops"}),
        ("/monitor/events", {"type": "tasktrail.command.*"}),
    ):
        data = assert_ok(await api.get(path, params=params, headers=orgs.a_admin))
        assert data["count"] == 0, (path, params, data)
    assert (await api.get("/monitor/events/export", params={"uuid": B_TASK},
                          headers=orgs.a_admin)).text == ""  # fmt: skip
    assert orgs.sent_to(orgs.b_app) == []
    # and acme's own objects are all there: the walk saw something
    await acme_sees_its_own(api, orgs)


def worker_uuid(orgs: TwoOrgs) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tasktrail:{orgs.b_app}/{B_WORKER}"))


async def acme_sees_its_own(api: httpx.AsyncClient, orgs: TwoOrgs) -> None:
    tasks = assert_ok(await api.get("/monitor/tasks", headers=orgs.a_admin))
    assert sorted(t["id"] for t in tasks["celery_tasks"]) == A_TASKS and tasks["count"] == 2
    workers = assert_ok(await api.get("/monitor/workers", headers=orgs.a_admin))
    assert [w["name"] for w in workers["celery_workers"]] == [A_WORKER] and workers["count"] == 1
    dashboard = assert_ok(await api.get("/monitor/tasks/dashboard", headers=orgs.a_admin))
    assert dashboard["task"]["task_started"] == 2
    assert (dashboard["worker"]["worker_online"], dashboard["worker"]["worker_task_active"]) == (
        1,
        1,
    )
    events = assert_ok(await api.get("/monitor/events", headers=orgs.a_admin))
    assert {e["uuid"] for e in events["events"]} == {None, *A_TASKS}
    assert {e["type"] for e in events["events"] if e["uuid"] is None} == {
        "tasktrail.org.created",
        "tasktrail.org.cluster_assigned",
        "tasktrail.token.created",
    }
    export = await api.get("/monitor/events/export", headers=orgs.a_admin)
    assert export.text.count("\n") == events["count"] and "globex" not in export.text
    history = assert_ok(await api.get(f"/monitor/tasks/{A_TASKS[0]}/events", headers=orgs.a_admin))
    assert history["count"] == 1


def b_commands(orgs: TwoOrgs) -> dict[tuple[str, str], dict[str, Any] | None]:
    """A request naming globex's objects for every route that is not a GET (its body)."""
    names = {"names": [B_WORKER]}
    return {
        ("POST", "/monitor/tasks"): {"uuid": B_TASK},
        ("PATCH", "/monitor/tasks/{task_id}"): {"name": "x"},
        ("DELETE", "/monitor/tasks/{task_id}"): None,
        ("POST", "/monitor/tasks/{task_id}/retry"): None,
        ("POST", "/monitor/tasks/revoke"): {"ides": [A_TASKS[0], B_TASK]},
        ("POST", "/monitor/tasks/revoke-by-stamp"): {"headers": {"k": "v"}},
        ("POST", "/monitor/tasks/rate-limit"): {"task_name": "x", "rate": "1/s", **names},
        ("POST", "/monitor/tasks/time-limit"): {"task_name": "x", "soft": 1.0, **names},
        ("POST", "/monitor/tasks/run"): {"name": "demo.add", "app": orgs.b_app},
        ("POST", "/monitor/workers"): {"name": B_WORKER},
        ("PATCH", "/monitor/workers/{worker_id}"): {"pid": 2},
        ("DELETE", "/monitor/workers/{worker_id}"): None,
        ("POST", "/monitor/workers/shutdown"): names,
        ("POST", "/monitor/workers/ping"): {"names": [A_WORKER, B_WORKER]},
        ("POST", "/monitor/workers/pool/grow"): names,
        ("POST", "/monitor/workers/pool/shrink"): names,
        ("POST", "/monitor/workers/autoscale"): {"max": 2, "min": 1, **names},
        ("POST", "/monitor/workers/consumers/add"): {"queue": "q", **names},
        ("POST", "/monitor/workers/consumers/cancel"): {"queue": "q", **names},
        ("POST", "/monitor/queues/purge"): {"queue": "q", "app": orgs.b_app},
        ("POST", "/monitor/tokens"): {"name": "x", "role": "viewer", "org": "globex"},
        ("DELETE", "/monitor/tokens/{name}"): None,
        ("POST", "/monitor/orgs"): {"slug": "globex", "name": "mine now"},
        ("POST", "/monitor/orgs/{slug}/clusters"): {"app": orgs.b_app},
        ("POST", "/ctrl_api/v1/json"): {
            "methods": [
                {"method": m, "params": {"project_id": orgs.b_app, **params}}
                for m, params in (
                    ("TaskInfo", {"task_ids": B_TASK}),
                    ("AppTasks", {"app_ids": B_WORKER}),
                    ("TaskEvents", {"task_id": B_TASK}),
                    ("TaskStart", {"name": "demo.add"}),
                    ("TaskStop", {"task_ids": B_TASK}),
                )
            ]
            + [
                {"method": "TaskInfo", "params": {"project_id": orgs.a_app, "task_ids": B_TASK}},
                {"method": "TaskStop", "params": {"project_id": orgs.a_app, "task_ids": B_TASK}},
            ]
        },
        ("POST", "/monitor/alerts/channels"): {
            "name": "x",
            "type": "slack",
            "config": {"url": "http://127.0.0.1:9/"},
        },
        ("DELETE", "/monitor/alerts/channels/{channel_id}"): None,
        ("POST", "/monitor/alerts/channels/{channel_id}/enable"): None,
        ("POST", "/monitor/alerts/channels/{channel_id}/test"): None,
        ("POST", "/monitor/alerts/rules"): {
            "name": "x",
            "kind": "task_failed",
            "channels": [orgs.b_alerts["channel_id"]],
        },
        ("DELETE", "/monitor/alerts/rules/{rule_id}"): None,
        ("POST", "/monitor/alerts/silences"): {
            "rule": orgs.b_alerts["rule_id"],
            "until": "2999-01-01T00:00:00Z",
        },
        ("DELETE", "/monitor/alerts/silences/{silence_id}"): None,
        ("PATCH", "/monitor/schedulers/{alias}/jobs/{job}"): {"grace_seconds": 5},
        ("POST", "/event"): {"event_code": 4, "alias": B_SCHEDULER},
        **catalog_commands(orgs),
    }


def catalog_commands(orgs: TwoOrgs) -> dict[tuple[str, str], dict[str, Any] | None]:
    """Seed 001's routes that are not a GET, naming globex's catalog."""
    task = "/{customer}/task/{entry_id}"
    run: dict[str, Any] = {"task_arguments": []}
    named = {"customer": "globex", "task": entry_id(orgs.b_app, "demo.add"), **run}
    return {
        ("POST", "/{customer}/task/import"): {"task": {"name": "x"}},
        ("PATCH", task): {"timeout": 5},
        ("DELETE", task): None,
        ("POST", f"{task}/credentials"): None,
        ("POST", f"{task}/job"): run,
        ("DELETE", f"{task}/job"): None,
        ("POST", f"{task}/secret/{{key}}/job"): run,
        ("POST", "/job/secret/{key}"): named,
        ("POST", "/job"): named,
    }


NAMES_NO_OBJECT = {("POST", "/monitor/tasks/revoke-by-stamp")}
REPORTS = {("POST", "/event")}
"""A report is always the caller's own organisation's: acme's scheduler of that alias."""
"""Routes that name no task or worker: they go to the caller's clusters alone."""
OWN_CREATES = {("POST", "/monitor/alerts/channels")}
"""Routes that name nothing of another organisation's: they create in the caller's own."""
ROOT_ONLY = {("POST", "/monitor/orgs"), ("POST", "/monitor/orgs/{slug}/clusters")}
"""Refused to every organisation's admin whatever the slug (so nothing leaks either)."""
IN_ENTRIES = {("POST", "/ctrl_api/v1/json")}
"""Seed 003's batch: 200, each method answered 404 in its own entry."""
BY_SECRET_KEY = {
    ("POST", "/{customer}/task/{entry_id}/secret/{key}/job"),
    ("POST", "/job/secret/{key}"),
}
"""Anonymous: a key that opens no entry of the organisation named is a 403, whatever the
reason (so nothing leaks either)."""


async def test_every_command_route_answers_404_for_the_other_organisation(
    client: httpx.AsyncClient, api: httpx.AsyncClient, orgs: TwoOrgs
) -> None:
    schema = (await client.get("/openapi.json")).json()
    requests = b_commands(orgs)
    assert set(requests) == operations(schema, get=False), "a route the walk does not know"
    for (method, path), body in sorted(requests.items()):
        url = filled(path, b_values(orgs))
        params = {"org": "globex"} if path == "/monitor/tokens/{name}" else None
        response = await api.request(method, url, json=body, params=params, headers=orgs.a_admin)
        if (method, path) in NAMES_NO_OBJECT:
            assert_ok(response)
        elif (method, path) in OWN_CREATES:
            assert response.status_code == 201, response.text
            assert response.json()["data"]["channel"]["org"] == "acme"
        elif (method, path) in REPORTS:
            assert response.json() == {"status": "success", "message": "", "data": {}}
        elif (method, path) in ROOT_ONLY:
            assert_error(response, 403, "root")
        elif (method, path) in IN_ENTRIES:
            assert response.status_code == 200, response.text
            codes = [entry["error"]["code"] for entry in response.json()["reply"]]
            assert body is not None and codes == [404] * len(body["methods"]), response.text
            assert "globex" not in response.text.lower().replace(B_TASK, "")
        elif (method, path) in BY_SECRET_KEY:
            assert response.status_code == 403 and response.json()["statusCode"] == 403
        else:
            assert_not_found(response, path)
            assert "globex" not in response.text.lower().replace(B_TASK, "").replace(
                B_WORKER, ""
            ).replace(orgs.b_app, "")  # it may echo what was asked, nothing more
    assert orgs.sent_to(orgs.b_app) == [] and orgs.sent_to(orgs.home) == []
    assert orgs.sent_to(orgs.a_app) == ["revoke_by_stamped_headers"]
    # globex's objects are as they were
    task = assert_ok(await api.get(f"/monitor/tasks/{B_TASK}", headers=orgs.b_admin))
    assert task["celerytask"]["name"] == "demo.add"
    assert_ok(await api.get(f"/monitor/workers/{B_WORKER}", headers=orgs.b_admin))
    tokens = assert_ok(await api.get("/monitor/tokens", headers=orgs.b_admin))["tokens"]
    assert [t["name"] for t in tokens] == [B_TOKEN]
    clusters = assert_ok(await client.get("/monitor/orgs/globex"))["org"]["clusters"]
    assert clusters == [orgs.b_app]
    path = f"/monitor/schedulers/{B_SCHEDULER}"
    assert assert_ok(await api.get(path, headers=orgs.b_admin))["scheduler"]["state"] == "running"
    job = assert_ok(await api.get(f"{path}/jobs/{B_JOB}", headers=orgs.b_admin))["job"]
    assert job["grace_seconds"] == 60.0


# --- where commands go -------------------------------------------------------------------------


async def test_commands_go_to_the_control_of_each_object_s_cluster(
    client: httpx.AsyncClient, api: httpx.AsyncClient, orgs: TwoOrgs
) -> None:
    assert_ok(await api.post("/monitor/workers/ping", json={}, headers=orgs.a_admin))
    assert assert_ok(await api.post("/monitor/tasks/run", json={"name": "demo.add"},
                                    headers=orgs.a_admin))  # fmt: skip
    assert_ok(await api.post(f"/monitor/tasks/{A_TASKS[0]}/retry", headers=orgs.a_admin))
    assert orgs.sent_to(orgs.a_app) == ["ping", "run", "retry"]
    assert orgs.sent_to(orgs.b_app) == [] and orgs.sent_to(orgs.home) == []

    # root: a task or worker goes to its own cluster; no names, every known cluster
    body = {"ides": [A_TASKS[0], B_TASK]}
    revoked = assert_ok(await client.post("/monitor/tasks/revoke", json=body))
    assert set(revoked["list_revokes"]) == {"celery@w1", "celery@w2"}
    assert [r.args["ids"] for r in orgs.controls[orgs.b_app].requests] == [[B_TASK]]
    assert_ok(await client.post("/monitor/workers/ping", json={}))
    assert orgs.sent_to(orgs.home) == ["ping"] and orgs.sent_to(orgs.b_app)[-1] == "ping"
    assert_ok(await client.post("/monitor/tasks/run", json={"name": "demo.add"}))
    assert orgs.sent_to(orgs.home)[-1] == "run"  # the API's own cluster by default
    sync = assert_ok(await api.get("/monitor/tasks/sync", headers=orgs.b_admin))
    assert sync == "0 numbers were synchronized."
    assert orgs.controls[orgs.b_app].requests[-1].args == {"ids": [B_TASK]}
    assert orgs.controls[orgs.b_app].requests[-1].actor == f"globex/{B_TOKEN}"


async def test_a_command_for_an_organisation_of_several_clusters_names_its_cluster(
    client: httpx.AsyncClient, api: httpx.AsyncClient, orgs: TwoOrgs
) -> None:
    assert_ok(await client.post("/monitor/orgs/acme/clusters", json={"app": "acme-second"}))
    response = await api.post("/monitor/tasks/run", json={"name": "x"}, headers=orgs.a_admin)
    message = assert_error(response, 400, "app")
    assert orgs.a_app in message and "acme-second" in message
    body = {"name": "x", "app": orgs.a_app}
    assert_ok(await api.post("/monitor/tasks/run", json=body, headers=orgs.a_admin))
    assert orgs.sent_to(orgs.a_app) == ["run"]
