"""Seed 003's batch API over real services: NATS with JetStream, the MongoDB-wire server, a
Redis broker, the collector, projector and control as processes, real Celery workers (-E),
and the API in-process with its lifespan.

The projector's lost-task sweep is slowed to once an hour here, so a task shows Stalled only
because the API judges its worker's heartbeat when it reads it.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import Celery
from pymongo import AsyncMongoClient, MongoClient
from tasktrail_api.app import create_app
from tasktrail_api.settings import Settings
from tasktrail_devstack.processes import start_celery_worker
from tasktrail_devstack.servers import NatsServer, redis_db
from tasktrail_devstack.services import running_services

from tests.integration.api.support import ADMIN_TOKEN, Doc, add_token
from tests.waiting import eventually

APP = "boro"
WORKER = "boro1@tasktrail-test"
DEMO = "tasktrail_devstack.demo.app"
VIEWER_TOKEN = "boro-viewer-token"
STALLED_DEADLINE = 10.0
"""Seed 003: Stalled within 10 s of a kill -9, with Celery's default heartbeat (2 s, expiry 4 s)."""


@dataclass
class Stack:
    settings: Settings
    client: Celery
    worker_env: dict[str, str]
    logs: Path


@pytest.fixture(scope="module")
def stack(
    redis_url: str, mongo_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("batch-logs")
    broker, backend = redis_db(redis_url, 5), redis_db(redis_url, 6)
    database = f"t_batch_{secrets.token_hex(4)}"
    worker_env = {"TASKTRAIL_BROKER_URL": broker, "TASKTRAIL_RESULT_BACKEND": backend}
    with NatsServer(tmp_path_factory.mktemp("batch-nats")) as nats_server:
        env = {
            **worker_env,
            "TASKTRAIL_NATS_URL": nats_server.url,
            "TASKTRAIL_MONGO_URL": mongo_url,
            "TASKTRAIL_MONGO_DB": database,
            "TASKTRAIL_APP": APP,
            "TASKTRAIL_COLLECTOR_SPOOL_DIR": str(logs / "spool"),
            "TASKTRAIL_PROJECTOR_LOST_INTERVAL": "3600",
        }
        client = Celery("batch-client", broker=broker, backend=backend)
        client.conf.task_send_sent_event = True
        settings = Settings(
            app=APP, nats_url=nats_server.url, mongo_url=mongo_url, mongo_db=database,
            admin_token=ADMIN_TOKEN, api_command_timeout=10.0, api_worker_timeout=2.0,
        )  # fmt: skip
        try:
            with (
                running_services(("collector", "projector", "control"), env, logs),
                start_celery_worker(
                    DEMO, env=worker_env, name=WORKER, log_path=logs / "worker.log", concurrency=3
                ),
            ):
                yield Stack(settings, client, worker_env, logs)
        finally:
            client.close()
            mongo: MongoClient[Doc] = MongoClient(mongo_url)
            try:
                mongo.drop_database(database)
            finally:
                mongo.close()


@pytest.fixture(scope="module")
async def api(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """The API as the admin, its lifespan running; a viewer token exists too."""
    mongo: AsyncMongoClient[Doc] = AsyncMongoClient(stack.settings.mongo_url)
    await add_token(mongo[stack.settings.mongo_db], VIEWER_TOKEN, "watcher", "viewer")
    await mongo.close()
    app = create_app(stack.settings)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers) as c,
    ):
        yield c


async def batch(
    api: httpx.AsyncClient, *methods: dict[str, Any], token: str = ADMIN_TOKEN
) -> list[dict[str, Any]]:
    response = await api.post(
        "/ctrl_api/v1/json",
        json={"user_id": 4, "methods": list(methods)},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    reply = response.json()["reply"]
    assert isinstance(reply, list) and len(reply) == len(methods)
    return reply


def method(called: str, /, ident: Any = None, **params: Any) -> dict[str, Any]:
    call: dict[str, Any] = {"method": called, "params": {"project_id": APP, **params}}
    if ident is not None:
        call["id"] = ident
    return call


async def statuses(api: httpx.AsyncClient, *task_ids: str) -> dict[str, str] | None:
    """Each task's seed status, or ``None`` while one is not projected yet."""
    [entry] = await batch(api, method("TaskInfo", task_ids=list(task_ids)))
    if "error" in entry:
        return None
    return {item["task_id"]: item["status"] for item in entry["result"]}


async def until_statuses(api: httpx.AsyncClient, wanted: dict[str, str]) -> dict[str, str]:
    async def check() -> dict[str, str] | None:
        found = await statuses(api, *wanted)
        return found if found == wanted else None

    return await eventually(check, f"statuses {wanted}")


async def stop(api: httpx.AsyncClient, *task_ids: str) -> None:
    [entry] = await batch(api, method("TaskStop", task_ids=list(task_ids), terminate=True))
    assert "result" in entry, entry


# --- TaskInfo ----------------------------------------------------------------------------------


async def test_task_info_all_lists_exactly_the_active_tasks(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    sleepers = [stack.client.send_task("demo.sleep", args=[60]).id for _ in range(2)]
    done = stack.client.send_task("demo.add", args=[1, 2]).id
    waiting = stack.client.send_task("demo.add", args=[3, 4], queue=f"nobody-{uuid.uuid4()}").id
    try:
        wanted = {sleepers[0]: "Started", sleepers[1]: "Started", done: "Stopped"}
        await until_statuses(api, {**wanted, waiting: "Scheduled"})
        [everything] = await batch(api, method("TaskInfo", task_ids="*"))
        assert sorted(item["task_id"] for item in everything["result"]) == sorted(sleepers)
        item = next(i for i in everything["result"] if i["task_id"] == sleepers[0])
        assert (item["app_id"], item["name"], item["status"]) == (WORKER, "demo.sleep", "Started")
        assert item["task_config"]["args"] == "[60]" and item["task_config"]["queue"] == "celery"
        assert item["start"].endswith(" +0000") and isinstance(item["start_f"], float)
        assert item["description"] == {"hasChildTasks": False}
    finally:
        await stop(api, *sleepers)


async def test_a_worker_killed_mid_task_leaves_its_task_stalled(
    stack: Stack, api: httpx.AsyncClient, tmp_path: Path
) -> None:
    queue = f"doomed-{uuid.uuid4().hex[:8]}"
    name = f"doomed-{uuid.uuid4().hex[:6]}@tasktrail-test"
    victim = start_celery_worker(
        DEMO, env=stack.worker_env, name=name, log_path=tmp_path / "victim.log",
        queues=[queue], concurrency=1,
    )  # fmt: skip
    try:
        task_id = stack.client.send_task("demo.sleep", args=[120], queue=queue).id
        await until_statuses(api, {task_id: "Started"})
        assert victim.kill() == -9
        killed = time.monotonic()

        async def stalled() -> dict[str, str] | None:
            found = await statuses(api, task_id)
            return found if found == {task_id: "Stalled"} else None

        found = await eventually(stalled, "the task to show Stalled", timeout=STALLED_DEADLINE)
        print(f"Stalled {time.monotonic() - killed:.1f} s after kill -9")  # for the record
        assert found == {task_id: "Stalled"}
        [apps] = await batch(api, method("AppTasks", app_ids=[name]))
        [entry] = apps["result"]
        assert (entry["app_id"], entry["online"]) == (name, False)
        assert [(t["task_id"], t["status"]) for t in entry["tasks"]] == [(task_id, "Stalled")]
        [everything] = await batch(api, method("TaskInfo", task_ids="*"))
        assert task_id not in [item["task_id"] for item in everything["result"]]
    finally:
        victim.stop(timeout=5)


# --- several methods in one batch ------------------------------------------------------------


async def test_one_failing_method_gets_an_error_entry_beside_the_other_s_result(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    task_id = stack.client.send_task("demo.add", args=[2, 2]).id
    await until_statuses(api, {task_id: "Stopped"})
    missing = str(uuid.uuid4())
    failed, answered = await batch(
        api, method("TaskInfo", task_ids=missing), method("TaskInfo", task_ids=task_id)
    )
    assert failed == {
        "method": "TaskInfo",
        "error": {"code": 404, "message": f"task not found: {missing}"},
    }
    assert answered["method"] == "TaskInfo" and "error" not in answered
    assert [item["task_id"] for item in answered["result"]] == [task_id]


async def test_the_same_method_twice_echoes_both_ids(stack: Stack, api: httpx.AsyncClient) -> None:
    first = stack.client.send_task("demo.add", args=[1, 1]).id
    second = stack.client.send_task("demo.mul", args=[2, 3]).id
    await until_statuses(api, {first: "Stopped", second: "Stopped"})
    replies = await batch(
        api,
        method("TaskInfo", ident=1, task_ids=second),
        method("TaskInfo", ident="again", task_ids=[first]),
    )
    assert [(r["method"], r["id"], r["result"][0]["task_id"]) for r in replies] == [
        ("TaskInfo", 1, second),
        ("TaskInfo", "again", first),
    ]


# --- AppTasks ----------------------------------------------------------------------------------


async def test_app_tasks_lists_each_live_worker_s_tasks(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    sleeper = stack.client.send_task("demo.sleep", args=[60]).id
    try:
        await until_statuses(api, {sleeper: "Started"})
        [everyone] = await batch(api, method("AppTasks", app_ids="*"))
        mine = [w for w in everyone["result"] if w["app_id"] == WORKER]
        assert len(mine) == 1 and mine[0]["online"] is True
        assert [t["task_id"] for t in mine[0]["tasks"]] == [sleeper]
    finally:
        await stop(api, sleeper)


# --- TaskEvents --------------------------------------------------------------------------------


async def test_task_events_update_token_returns_only_new_entries(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    task_id = stack.client.send_task("demo.add", args=[5, 5]).id
    await until_statuses(api, {task_id: "Stopped"})

    async def history() -> dict[str, Any] | None:
        [entry] = await batch(api, method("TaskEvents", task_id=task_id))
        types = [e["type"] for e in entry["result"]["events"]]
        return entry["result"] if "task-succeeded" in types else None

    first = await eventually(history, "the task's history")
    assert [e["type"] for e in first["events"]][-1] == "task-succeeded"
    token = first["update_token"]
    [again] = await batch(api, method("TaskEvents", task_id=task_id, update_token=token))
    assert again["result"] == {"events": [], "update_token": token}

    await stop(api, task_id)  # revoking a finished task: two command entries name it

    async def news() -> dict[str, Any] | None:
        [entry] = await batch(api, method("TaskEvents", task_id=task_id, update_token=token))
        return entry["result"] if len(entry["result"]["events"]) == 2 else None

    new = await eventually(news, "the revoke to be recorded")
    assert [e["type"] for e in new["events"]] == [
        "tasktrail.command.requested",
        "tasktrail.command.completed",
    ]
    assert {e["actor"] for e in new["events"]} == {"admin"}
    [last] = await batch(
        api, method("TaskEvents", task_id=task_id, update_token=new["update_token"])
    )
    assert last["result"]["events"] == []


# --- TaskStop and TaskStart --------------------------------------------------------------------


async def test_task_stop_terminates_a_running_task(stack: Stack, api: httpx.AsyncClient) -> None:
    task_id = stack.client.send_task("demo.sleep", args=[60]).id
    await until_statuses(api, {task_id: "Started"})
    [stopped] = await batch(api, method("TaskStop", task_ids=task_id, terminate=True))
    assert stopped["result"]["task_ids"] == [task_id]
    assert stopped["result"]["workers"][WORKER]["status"] == "ok"
    await until_statuses(api, {task_id: "Stopped"})
    task = (await api.get(f"/monitor/tasks/{task_id}")).json()["data"]["celerytask"]
    assert task["status"] == "REVOKED"


async def test_task_start_runs_a_catalog_task_and_the_log_shows_who_from_where(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    refreshed = await api.get("/monitor/workers/refresh")  # registered tasks become entries
    assert refreshed.status_code == 205, refreshed.text

    async def started() -> dict[str, Any] | None:
        [entry] = await batch(api, method("TaskStart", name="demo.add", args=[2, 3]))
        return entry.get("result")

    result = await eventually(started, "demo.add to be in the catalog and run")
    task_id = result["task_id"]
    assert (result["job"]["id"], result["job"]["origin"]) == (task_id, "batch")
    await until_statuses(api, {task_id: "Stopped"})
    task = (await api.get(f"/monitor/tasks/{task_id}")).json()["data"]["celerytask"]
    assert (task["status"], task["result"], task["labels"]["origin"]) == ("SUCCESS", "5", "batch")

    async def audited() -> list[dict[str, Any]] | None:
        params = {"type": "tasktrail.command.requested", "actor": "admin"}
        events = (await api.get("/monitor/events", params=params)).json()["data"]["events"]
        runs = [e for e in events if e["event"]["command"] == "run"]
        return runs or None

    [run] = await eventually(audited, "the run to be recorded")
    assert run["actor"] == "admin"
    assert run["event"]["args"]["name"] == "demo.add"
    assert run["event"]["args"]["labels"]["origin"] == "batch"


async def test_profiles_set_on_a_catalog_task_show_in_task_info(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    refreshed = await api.get("/monitor/workers/refresh")  # registered tasks become entries
    assert refreshed.status_code == 205, refreshed.text

    async def entry() -> str | None:
        listed = (await api.get("/default/task")).json()
        return next((e["id"] for e in listed if e["name"] == "demo.add"), None)

    path = f"/default/task/{await eventually(entry, 'demo.add in the catalog')}"
    profiles = {"alarm": [79], "threshold": [96], "webhook": [265, "ops-hook"], "kpi": []}
    defined = await api.patch(path, json={"profiles": profiles})
    assert defined.status_code == 200, defined.text
    shown = {"alarm": [79], "threshold": [96], "webhook": [265, "ops-hook"]}
    assert defined.json()["profiles"] == shown
    for refused in ({"alarm": [79, 80]}, {"snmp": [263]}, {"email": [1.5]}):
        answer = await api.patch(path, json={"profiles": refused})
        assert answer.status_code == 400, (refused, answer.text)

    # Another organisation's admin cannot set them (nor see that the task exists).
    assert (await api.post("/monitor/orgs", json={"slug": "borocorp", "name": "B"})).is_success
    body = {"name": "borocorp-admin", "role": "admin", "org": "borocorp"}
    secret = (await api.post("/monitor/tokens", json=body)).json()["data"]["secret"]
    other = {"Authorization": f"Bearer {secret}"}
    for where in (path, path.replace("/default/", "/borocorp/")):
        outsider = await api.patch(where, json={"profiles": {"alarm": [1]}}, headers=other)
        assert outsider.status_code == 404, outsider.text

    task_id = stack.client.send_task("demo.add", args=[1, 2]).id
    await until_statuses(api, {task_id: "Stopped"})
    [info] = await batch(api, method("TaskInfo", task_ids=task_id))
    assert info["result"][0]["profiles"] == shown
    [other_task] = await batch(api, method("TaskInfo", task_ids="*"))
    assert all(t["profiles"] == {} for t in other_task["result"] if t["name"] != "demo.add")

    params = {"type": "tasktrail.catalog.amended", "actor": "admin"}
    events = (await api.get("/monitor/events", params=params)).json()["data"]["events"]
    amended = [e["event"] for e in events if "profiles" in e["event"].get("fields", {})]
    assert [e["fields"]["profiles"] for e in amended] == [shown]  # through the log, once


async def test_commands_need_the_operator_role(api: httpx.AsyncClient) -> None:
    replies = await batch(
        api,
        method("TaskStart", name="demo.add"),
        method("TaskStop", task_ids="x"),
        method("TaskInfo", task_ids="*"),
        token=VIEWER_TOKEN,
    )
    assert [r.get("error") for r in replies] == [
        {"code": 403, "message": "TaskStart needs the operator role"},
        {"code": 403, "message": "TaskStop needs the operator role"},
        None,
    ]


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "1: JSON decode error"),
        (b'{"user_id": 4}', "methods: Field required"),
        (b'{"methods": []}', "methods: List should have at least 1 item"),
        (b'{"methods": [{"params": {}}]}', "methods.0.method: Field required"),
        (b'{"methods": [{"method": "TaskInfo"}], "extra": 1}', "extra: Extra inputs"),
    ],
)
async def test_bad_bodies_are_refused_in_the_seed_s_shape(
    api: httpx.AsyncClient, body: bytes, message: str
) -> None:
    response = await api.post(
        "/ctrl_api/v1/json", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["reply"] == [] and answer["error"]["code"] == 400
    assert answer["error"]["message"].startswith(message)


async def test_no_token_and_bad_params_are_refused_in_the_seed_s_shape(
    api: httpx.AsyncClient,
) -> None:
    body = {"methods": [method("TaskInfo", task_ids="*")]}
    anonymous = await api.post("/ctrl_api/v1/json/", json=body, headers={"Authorization": ""})
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "reply": [],
        "error": {"code": 401, "message": "authentication required"},
    }
    replies = await batch(
        api,
        {"method": "TaskInfo", "params": {"task_ids": "*"}},
        method("TaskInfo", task_ids=[]),
        method("TaskEvents", task_id="t", limit_value=500),
        method("Nope", ident="n"),
    )
    assert [r["error"]["code"] for r in replies] == [400, 400, 400, 400]
    assert [r["error"]["message"].split(":")[0] for r in replies] == [
        "params.project_id",
        "params",
        "params.limit_value",
        "method",
    ]
    assert replies[3]["id"] == "n"


async def test_a_body_too_large_is_refused_in_the_seed_s_shape(api: httpx.AsyncClient) -> None:
    response = await api.post(
        "/ctrl_api/v1/json",
        content=b" " * (2 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json() == {
        "reply": [],
        "error": {"code": 413, "message": "the request body is larger than 1048576 bytes"},
    }
    other = await api.post("/monitor/tasks/revoke", content=b" " * (2 * 1024 * 1024))
    assert other.status_code == 413 and other.json()["err_code"] == 413  # the envelope elsewhere


# --- organisations -----------------------------------------------------------------------------


async def test_another_organisation_s_project_answers_as_one_that_does_not_exist(
    stack: Stack, api: httpx.AsyncClient
) -> None:
    created = await api.post("/monitor/orgs", json={"slug": "acme", "name": "Acme"})
    assert created.status_code == 201, created.text
    assigned = await api.post("/monitor/orgs/acme/clusters", json={"app": "acme-prod"})
    assert assigned.status_code == 200, assigned.text

    async def token() -> str | None:
        body = {"name": "acme-ops", "role": "operator", "org": "acme"}
        response = await api.post("/monitor/tokens", json=body)
        return str(response.json()["data"]["secret"]) if response.status_code == 201 else None

    acme = await eventually(token, "a token of the new organisation")
    task_id = stack.client.send_task("demo.add", args=[4, 4]).id
    await until_statuses(api, {task_id: "Stopped"})
    theirs, nobody, own, stop = await batch(
        api,
        method("TaskInfo", task_ids=task_id),
        {"method": "TaskInfo", "params": {"project_id": "no-such-cluster", "task_ids": task_id}},
        {"method": "TaskInfo", "params": {"project_id": "acme-prod", "task_ids": "*"}},
        method("TaskStop", task_ids=task_id),
        token=acme,
    )
    not_found = {"code": 404, "message": "project not found"}
    assert theirs == {"method": "TaskInfo", "error": not_found}
    assert nobody == theirs
    assert own == {"method": "TaskInfo", "result": []}
    assert stop == {"method": "TaskStop", "error": not_found}
