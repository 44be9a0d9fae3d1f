"""Seed 001 (TheEye's tasks API) over the real system: a real Celery worker, the collector,
projector, control service and API on real NATS, MongoDB-wire and Redis servers.

Entries come from discovery (the worker's registered tasks, names seen in events); admins
define them; runs start real tasks, by token or by secret key (an HTML form included), and
their jobs follow the tasks' real events. Each test uses entries of its own, so the order of
the tests does not matter.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient
from tasktrail_shared.catalog import entry_id

from tests.integration.api.catalog_stack import (
    APP,
    WORKER,
    Stack,
    new_key,
    running_stack,
)
from tests.waiting import eventually

ADD = entry_id(APP, "demo.add")
MUL = entry_id(APP, "demo.mul")
SLEEP = entry_id(APP, "demo.sleep")
SCAN = entry_id(APP, "demo.scan")
FAIL = entry_id(APP, "demo.fail")
FLAKY = entry_id(APP, "demo.flaky")
TWO_NUMBERS = [{"type": "number", "label": "x"}, {"type": "number", "label": "y"}]


@pytest.fixture(scope="module")
async def stack(
    redis_url: str, mongo_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    database = f"t_{uuid.uuid4().hex[:12]}"
    workdir = tmp_path_factory.mktemp("catalog")
    async with running_stack(redis_url, mongo_url, database, workdir) as running:
        await _discover(running)
        yield running
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    await client.drop_database(database)
    await client.close()


async def _discover(stack: Stack) -> None:
    """Refresh: control inspects the worker, whose registered tasks become entries."""
    refreshed = await stack.ops.get("/monitor/workers/refresh")
    assert refreshed.status_code == 205, refreshed.text

    async def listed() -> dict[str, Any] | None:
        entries = await entries_of(stack.admin)
        return entries if {"demo.add", "demo.sleep", "demo.mul"} <= set(entries) else None

    await eventually(listed, "the worker's registered tasks to be catalogued")


def plain(response: httpx.Response, status: int = 200) -> Any:
    """A seed 001 answer: plain JSON, no envelope."""
    assert response.status_code == status, response.text
    body = response.json()
    assert not (isinstance(body, dict) and "err" in body), body
    return body


def theeye_error(response: httpx.Response, status: int, *words: str) -> str:
    """TheEye's error body: ``{statusCode, error, message}``."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body.keys() == {"statusCode", "error", "message"}, body
    assert body["statusCode"] == status
    for word in words:
        assert word in body["message"], body
    return str(body["message"])


async def entries_of(client: httpx.AsyncClient, customer: str = "default") -> dict[str, Any]:
    return {entry["name"]: entry for entry in plain(await client.get(f"/{customer}/task"))}


async def define(stack: Stack, ident: str, **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = plain(await stack.admin.patch(f"/default/task/{ident}", json=fields))
    return entry


async def run(client: httpx.AsyncClient, ident: str, *arguments: Any) -> dict[str, Any]:
    body = {"task_arguments": list(arguments)}
    job: dict[str, Any] = plain(await client.post(f"/default/task/{ident}/job", json=body))
    return job


async def key_of(stack: Stack, ident: str) -> str:
    return str(plain(await stack.admin.get(f"/default/task/{ident}/credentials"))["secret"])


async def job_when(client: httpx.AsyncClient, job_id: str, lifecycle: str) -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    async def check() -> dict[str, Any] | None:
        seen[:] = [plain(await client.get(f"/default/job/{job_id}"))]
        return seen[0] if seen[0]["lifecycle"] == lifecycle else None

    try:
        return await eventually(check, f"job {job_id} to be {lifecycle}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the job reads {seen}") from None


async def audit(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    response = await stack.admin.get("/monitor/events", params=params)
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["data"]["events"]
    return events


async def test_discovered_tasks_are_listed_with_id_name_and_a_default_timeout(
    stack: Stack,
) -> None:
    entries = await entries_of(stack.admin)
    add = entries["demo.add"]
    assert (add["id"], add["customer_name"], add["app"]) == (ADD, "default", APP)
    assert add["timeout"] is None and add["multitasking"] is True and add["acl"] == []
    assert "registered" in add["discovered_by"] and add["type"] == "celery"
    assert not any(name.startswith("celery.") for name in entries)

    stack.client.send_task("ghost.only_in_events", args=[1])  # no worker registers it

    async def ghost() -> dict[str, Any] | None:
        return (await entries_of(stack.admin)).get("ghost.only_in_events")

    seen = await eventually(ghost, "a name seen only in events to be catalogued")
    assert seen["discovered_by"] == ["events"]
    assert seen["id"] == entry_id(APP, "ghost.only_in_events")


async def test_viewers_see_the_entries_their_acl_names_and_admins_define_them(
    stack: Stack,
) -> None:
    path = f"/default/task/{SCAN}"
    assert plain(await stack.admin.get(path))["id"] == SCAN
    theeye_error(await stack.viewer.get(path), 404)
    assert "demo.scan" not in await entries_of(stack.viewer)

    entry = await define(stack, SCAN, acl=["viewer"], description="Scans", tags=["net"], timeout=9)
    assert (entry["acl"], entry["description"], entry["tags"], entry["timeout"]) == (
        ["viewer"], "Scans", ["net"], 9)  # fmt: skip
    assert plain(await stack.viewer.get(path))["description"] == "Scans"
    assert "demo.scan" in await entries_of(stack.viewer)
    assert (await define(stack, SCAN, timeout=None))["timeout"] is None

    theeye_error(await stack.viewer.patch(path, json={"timeout": 5}), 403, "admin")
    theeye_error(await stack.admin.patch(path, json={"timeout": 0}), 400, "timeout")
    unauthenticated = await stack.api.get("/default/task")
    theeye_error(unauthenticated, 401, "authentication required")
    assert unauthenticated.headers["WWW-Authenticate"] == "Bearer"
    theeye_error(await stack.admin.get("/default/task/not-an-id"), 400)

    changes = await audit(stack, type="tasktrail.catalog.amended", actor="admin")
    assert any(
        e["event"]["id"] == SCAN and e["event"]["fields"].get("acl") == ["viewer"] for e in changes
    )


async def test_a_run_with_a_token_completes_on_the_worker_and_is_audited(stack: Stack) -> None:
    await define(stack, ADD, task_arguments=TWO_NUMBERS, acl=["ops"], timeout=30)
    job = await run(stack.ops, ADD, "2", "3")
    assert (job["task_id"], job["name"], job["user"], job["origin"]) == (
        ADD, "demo.add", "ops", "token")  # fmt: skip
    assert job["task_arguments_values"] == [2, 3] and job["state"] in ("in_progress", "success")
    done = await job_when(stack.ops, job["id"], "finished")
    assert (done["state"], done["status"], done["result"], done["worker"]) == (
        "success", "SUCCESS", "5", WORKER)  # fmt: skip
    assert done["creation_date"] is not None and done["customer_name"] == "default"

    requested = await audit(stack, type="tasktrail.command.requested", actor="ops")
    [command] = [
        e["event"]
        for e in requested
        if (e["event"]["args"].get("labels") or {}).get("catalog_id") == ADD
    ]
    assert command["command"] == "run" and command["args"]["time_limit"] == 30
    assert command["args"]["labels"] == {"catalog_id": ADD, "origin": "token", "started_by": "ops"}
    path = f"/default/task/{ADD}/job"
    theeye_error(await stack.viewer.post(path, json={}), 403, "operator")
    theeye_error(await stack.ann.post(path, json={}), 404)  # a user the ACL does not name


async def test_too_few_arguments_are_a_400_naming_how_many_are_required(stack: Stack) -> None:
    await define(stack, FAIL, task_arguments=[{"type": "input", "label": "message"}])
    response = await stack.admin.post(f"/default/task/{FAIL}/job", json={"task_arguments": []})
    theeye_error(response, 400, "too few arguments", "requires 1, 0 given")
    failed = await job_when(stack.admin, (await run(stack.admin, FAIL, "boom"))["id"], "finished")
    assert (failed["state"], failed["exception"]) == ("failure", "ValueError('boom')")


async def test_example_6_runs_with_the_organisation_and_task_in_the_query(stack: Stack) -> None:
    await define(stack, MUL, task_arguments=TWO_NUMBERS)
    params = {"access_token": stack.tokens["ops"], "customer": "default", "task": MUL}
    body = {"task_arguments": ["6", "7"]}
    theeye_error(await stack.api.post("/job", params=params, json=body), 404)  # not in the ACL
    await define(stack, MUL, acl=["ops"])
    job = plain(await stack.api.post("/job", params=params, json=body))
    assert (await job_when(stack.admin, job["id"], "finished"))["result"] == "42"
    no_task = {"access_token": stack.tokens["ops"]}
    theeye_error(await stack.api.post("/job", params=no_task, json={}), 400, "customer")


async def test_a_secret_key_run_from_an_html_form_completes_without_a_token(stack: Stack) -> None:
    await define(stack, ADD, task_arguments=TWO_NUMBERS)
    theeye_error(await stack.ops.get(f"/default/task/{ADD}/credentials"), 403)
    key = await key_of(stack, ADD)
    assert len(key) == 64 and int(key, 16) >= 0 and await key_of(stack, ADD) == key

    form = {"customer": "default", "task": ADD, "task_arguments[]": ["20", "22"]}
    response = await stack.api.post(f"/job/secret/{key}", data=form)
    assert response.request.headers["content-type"] == "application/x-www-form-urlencoded"
    job = plain(response)
    assert (job["origin"], job["user"], job["task_arguments_values"]) == (
        "secret", "anonymous", [20, 22])  # fmt: skip
    assert (await job_when(stack.admin, job["id"], "finished"))["result"] == "42"

    body = {"task_arguments": [1, 2]}
    by_path = plain(await stack.api.post(f"/default/task/{ADD}/secret/{key}/job", json=body))
    assert (await job_when(stack.admin, by_path["id"], "finished"))["result"] == "3"
    runs = await audit(stack, type="tasktrail.command.requested", actor="anonymous")
    assert {e["event"]["args"]["labels"]["origin"] for e in runs} == {"secret"}


async def test_a_rotated_key_is_refused_at_once_and_every_refusal_is_audited(
    stack: Stack,
) -> None:
    await define(stack, FLAKY, task_arguments=[{"type": "input", "label": "key"}])
    old = await key_of(stack, FLAKY)
    new = plain(await stack.admin.post(f"/default/task/{FLAKY}/credentials"))["secret"]
    assert new != old and await key_of(stack, FLAKY) == new
    body = {"customer": "default", "task": FLAKY, "task_arguments": ["k"]}
    theeye_error(await stack.api.post(f"/job/secret/{old}", json=body), 403, "invalid secret key")
    theeye_error(await stack.api.post(f"/job/secret/{new[:40]}", json=body), 403)
    theeye_error(await stack.api.post(f"/job/secret/{new_key()}", json=body), 403)
    job = plain(await stack.api.post(f"/job/secret/{new}", json=body))
    done = await job_when(stack.admin, job["id"], "finished")
    assert done["result"] == "'k: ok after 1 retry'"

    async def refusals() -> list[dict[str, Any]] | None:
        found = await audit(stack, type="tasktrail.catalog.key_refused")
        ours = [e for e in found if e["event"]["entry"] == FLAKY]
        return ours if len(ours) >= 3 else None

    refused = await eventually(refusals, "the refused keys in the audit trail")
    assert {e["actor"] for e in refused} == {"anonymous"}
    assert sorted(e["event"]["reason"] for e in refused) == [
        "the key is not 64 characters", "wrong key", "wrong key"]  # fmt: skip
    rotations = await audit(stack, type="tasktrail.catalog.key_rotated", actor="admin")
    assert sum(e["event"]["id"] == FLAKY for e in rotations) == 2
    assert old not in str(rotations) and new not in str(rotations)


async def test_one_run_at_a_time_gives_a_clear_409_and_the_timeout_is_the_time_limit(
    stack: Stack,
) -> None:
    seconds = [{"type": "number", "label": "seconds"}]
    await define(stack, SLEEP, multitasking=False, task_arguments=seconds, timeout=60)
    first = await run(stack.admin, SLEEP, "30")
    await job_when(stack.admin, first["id"], "started")
    second = await stack.admin.post(f"/default/task/{SLEEP}/job", json={"task_arguments": ["0"]})
    message = theeye_error(second, 409, "one run at a time")
    assert first["id"] in message

    revoke = {"ides": [first["id"]], "terminate": True}
    assert (await stack.ops.post("/monitor/tasks/revoke", json=revoke)).status_code == 200
    terminated = await job_when(stack.admin, first["id"], "terminated")
    assert (terminated["state"], terminated["status"]) == ("canceled", "REVOKED")

    await define(stack, SLEEP, timeout=1)
    slow = await run(stack.admin, SLEEP, "20")  # no longer refused: the first one ended
    timed_out = await job_when(stack.admin, slow["id"], "terminated")
    assert (timed_out["state"], timed_out["status"]) == ("timeout", "FAILURE")
    assert timed_out["worker"] == WORKER  # which killed it after 1 s


async def test_recipes_export_and_import_and_a_delete_hides_an_entry(stack: Stack) -> None:
    ident = entry_id(APP, "ops.report")
    task = {"name": "ops.report", "description": "weekly", "timeout": 90,
            "task_arguments": [{"type": "fixed", "value": "all"}]}  # fmt: skip
    theeye_error(await stack.ops.post("/default/task/import", json={"task": task}), 403)
    created = plain(await stack.admin.post("/default/task/import", json={"task": task}), 201)
    assert (created["id"], created["description"], created["discovered_by"]) == (
        ident, "weekly", [])  # fmt: skip
    exported = plain(await stack.admin.get(f"/default/task/{ident}/recipe"))
    assert exported == {"task": {**task, "tags": None, "multitasking": None}}
    theeye_error(await stack.ops.get(f"/default/task/{ident}/recipe"), 403)

    assert (await stack.admin.delete(f"/default/task/{ident}")).status_code == 204
    theeye_error(await stack.admin.get(f"/default/task/{ident}"), 404)
    assert "ops.report" not in await entries_of(stack.admin)
    restored = plain(await stack.admin.post("/default/task/import", json=exported), 201)
    assert restored["id"] == ident and restored["timeout"] == 90
    deletes = await audit(stack, type="tasktrail.catalog.deleted", actor="admin")
    assert any(e["event"]["id"] == ident for e in deletes)


async def test_clearing_jobs_removes_finished_runs_and_keeps_their_history(stack: Stack) -> None:
    port = [{"type": "input", "label": "net"}, {"type": "number", "label": "port"}]
    await define(stack, SCAN, task_arguments=port)
    ids = [(await run(stack.admin, SCAN, "n1", p))["id"] for p in ("80", "443")]
    for job_id in ids:
        await job_when(stack.admin, job_id, "finished")
    jobs = f"/default/task/{SCAN}/job"
    theeye_error(await stack.ops.delete(jobs), 403)
    assert plain(await stack.admin.delete(jobs)) == {"deletedCount": 2}
    for job_id in ids:
        theeye_error(await stack.admin.get(f"/default/job/{job_id}"), 404)
        history = await stack.admin.get(f"/monitor/tasks/{job_id}/events")
        types = [e["type"] for e in history.json()["data"]["events"]]
        assert "task-succeeded" in types and "tasktrail.task.deleted" in types
    assert plain(await stack.admin.delete(jobs)) == {"deletedCount": 0}


async def test_another_organisations_catalog_answers_404(stack: Stack) -> None:
    theeye_error(await stack.admin.get("/nobody/task"), 404, "organisation")
    assert (
        await stack.admin.post("/monitor/orgs", json={"slug": "acme", "name": "Acme"})
    ).status_code == 201
    assigned = await stack.admin.post("/monitor/orgs/acme/clusters", json={"app": "acme-prod"})
    assert assigned.status_code == 200, assigned.text
    body = {"name": "boss", "role": "admin", "org": "acme"}
    created = await stack.admin.post("/monitor/tokens", json=body)
    boss = {"Authorization": f"Bearer {created.json()['data']['secret']}"}

    report = {"task": {"name": "acme.report", "acl": ["ops"]}}
    entry = plain(await stack.api.post("/acme/task/import", json=report, headers=boss), 201)
    assert (entry["app"], entry["customer_name"]) == ("acme-prod", "acme")
    assert list(await entries_of(stack.admin, "acme")) == ["acme.report"]  # root sees it
    assert "acme.report" not in await entries_of(stack.admin)  # not the default org's
    listed = plain(await stack.api.get("/acme/task", headers=boss))
    assert [e["name"] for e in listed] == ["acme.report"]
    for path in ("/default/task", f"/default/task/{ADD}", f"/acme/task/{ADD}"):
        theeye_error(await stack.api.get(path, headers=boss), 404)
    theeye_error(await stack.admin.get(f"/acme/task/{ADD}"), 404, "task")
    theeye_error(await stack.ops.get("/acme/task"), 404, "organisation")
    key = await key_of(stack, ADD)
    theeye_error(await stack.api.post(f"/acme/task/{ADD}/secret/{key}/job", json={}), 403)
    theeye_error(await stack.admin.get(f"/default/job/{uuid.uuid4()}"), 404, "job")


async def test_every_error_under_seed_001_paths_has_theeyes_shape(stack: Stack) -> None:
    theeye_error(await stack.admin.get(f"/default/task/{ADD}/nothing-here"), 404)
    theeye_error(await stack.admin.put(f"/default/task/{ADD}"), 405)
    huge = b"x" * (2 * 1024 * 1024)
    theeye_error(await stack.api.post(f"/job/secret/{new_key()}", content=huge), 413)
    theeye_error(await stack.api.post("/job/secret/k", content=b"{", headers=JSON), 400, "JSON")
    theeye_error(
        await stack.api.post("/job/secret/k", content=b"a", headers=TEXT), 400, "text/plain"
    )
    assert (await stack.admin.get("/monitor/nothing-here")).json()["err"] is True  # the envelope


JSON = {"Content-Type": "application/json"}
TEXT = {"Content-Type": "text/plain"}
