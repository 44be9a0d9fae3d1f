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
from tasktrail_shared.catalog import entry_id

from tests.integration.api.catalog_stack import APP, Stack, eventually, new_key, running_stack

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
    async with running_stack(
        redis_url, mongo_url, database, tmp_path_factory.mktemp("catalog")
    ) as running:
        await _discover(running)
        yield running
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url)
    await client.drop_database(database)
    await client.close()


async def _discover(stack: Stack) -> None:
    """Refresh: control inspects the worker, whose registered tasks become entries."""
    refreshed = await stack.api.get("/monitor/workers/refresh", headers=stack.auth("ops"))
    assert refreshed.status_code == 205, refreshed.text

    async def listed() -> dict[str, Any] | None:
        entries = await entries_of(stack, "admin")
        return entries if {"demo.add", "demo.sleep", "demo.mul"} <= set(entries) else None

    await eventually(listed, "the worker's registered tasks to be catalogued")


async def entries_of(stack: Stack, who: str, customer: str = "default") -> dict[str, Any]:
    response = await stack.api.get(f"/{customer}/task", headers=stack.auth(who))
    assert response.status_code == 200, response.text
    return {entry["name"]: entry for entry in response.json()}


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


async def define(stack: Stack, ident: str, **fields: Any) -> dict[str, Any]:
    response = await stack.api.patch(
        f"/default/task/{ident}", json=fields, headers=stack.auth("admin")
    )
    entry: dict[str, Any] = plain(response)
    return entry


async def job_when(stack: Stack, job_id: str, lifecycle: str, who: str = "admin") -> dict[str, Any]:
    seen: list[dict[str, Any]] = []

    async def check() -> dict[str, Any] | None:
        response = await stack.api.get(f"/default/job/{job_id}", headers=stack.auth(who))
        seen[:] = [plain(response)]
        return seen[0] if seen[0]["lifecycle"] == lifecycle else None

    try:
        return await eventually(check, f"job {job_id} to be {lifecycle}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the job reads {seen}") from None


async def audit(stack: Stack, **params: Any) -> list[dict[str, Any]]:
    response = await stack.api.get("/monitor/events", params=params, headers=stack.auth("admin"))
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["data"]["events"]
    return events


async def test_discovered_tasks_are_listed_with_id_name_and_a_default_timeout(stack: Stack) -> None:
    entries = await entries_of(stack, "admin")
    add = entries["demo.add"]
    assert (add["id"], add["customer_name"], add["app"], add["type"]) == (
        ADD,
        "default",
        APP,
        "celery",
    )
    assert add["timeout"] is None and add["multitasking"] is True and add["acl"] == []
    assert "registered" in add["discovered_by"] and "secret" not in str(add)
    assert not any(name.startswith("celery.") for name in entries)

    stack.client.send_task("ghost.only_in_events", args=[1])  # no worker registers it

    async def ghost() -> dict[str, Any] | None:
        return (await entries_of(stack, "admin")).get("ghost.only_in_events")

    seen = await eventually(ghost, "a name seen only in events to be catalogued")
    assert seen["discovered_by"] == ["events"] and seen["id"] == entry_id(
        APP, "ghost.only_in_events"
    )


async def test_viewers_see_the_entries_their_acl_names_and_admins_define_them(stack: Stack) -> None:
    assert (
        plain(await stack.api.get(f"/default/task/{SCAN}", headers=stack.auth("admin")))["id"]
        == SCAN
    )
    theeye_error(await stack.api.get(f"/default/task/{SCAN}", headers=stack.auth("viewer")), 404)
    assert "demo.scan" not in await entries_of(stack, "viewer")

    entry = await define(
        stack, SCAN, acl=["viewer"], description="Scans a port", tags=["net"], timeout=120
    )
    assert (entry["acl"], entry["description"], entry["tags"], entry["timeout"]) == (
        ["viewer"], "Scans a port", ["net"], 120)  # fmt: skip
    shown = plain(await stack.api.get(f"/default/task/{SCAN}", headers=stack.auth("viewer")))
    assert shown["description"] == "Scans a port" and "demo.scan" in await entries_of(
        stack, "viewer"
    )
    assert (await define(stack, SCAN, timeout=None))["timeout"] is None

    theeye_error(
        await stack.api.patch(
            f"/default/task/{SCAN}", json={"timeout": 5}, headers=stack.auth("viewer")
        ),
        403,
        "admin",
    )
    theeye_error(
        await stack.api.patch(
            f"/default/task/{SCAN}", json={"timeout": 0}, headers=stack.auth("admin")
        ),
        400,
        "timeout",
    )
    unauthenticated = await stack.api.get("/default/task")
    theeye_error(unauthenticated, 401, "authentication required")
    assert unauthenticated.headers["WWW-Authenticate"] == "Bearer"
    theeye_error(await stack.api.get("/default/task/not-an-id", headers=stack.auth("admin")), 400)

    changes = await audit(stack, type="tasktrail.catalog.amended", actor="admin")
    assert any(
        e["event"]["id"] == SCAN and e["event"]["fields"].get("acl") == ["viewer"] for e in changes
    )


async def test_a_run_with_a_token_completes_on_the_worker_and_is_audited(stack: Stack) -> None:
    await define(stack, ADD, task_arguments=TWO_NUMBERS, acl=["ops"], timeout=30)
    response = await stack.api.post(
        f"/default/task/{ADD}/job", json={"task_arguments": ["2", "3"]}, headers=stack.auth("ops")
    )
    job = plain(response)
    assert (job["task_id"], job["name"], job["user"], job["origin"]) == (
        ADD,
        "demo.add",
        "ops",
        "token",
    )
    assert job["task_arguments_values"] == [2, 3] and job["state"] in ("in_progress", "success")
    done = await job_when(stack, job["id"], "finished", who="ops")
    assert (done["state"], done["status"], done["result"], done["worker"]) == (
        "success", "SUCCESS", "5", "catalog@tasktrail-test")  # fmt: skip
    assert done["creation_date"] is not None and done["customer_name"] == "default"

    requested = await audit(stack, type="tasktrail.command.requested", actor="ops")
    [run] = [
        e["event"]
        for e in requested
        if e["event"]["args"].get("labels", {}).get("catalog_id") == ADD
    ]
    assert run["command"] == "run" and run["args"]["time_limit"] == 30
    assert run["args"]["labels"] == {"catalog_id": ADD, "origin": "token", "started_by": "ops"}
    theeye_error(
        await stack.api.post(f"/default/task/{ADD}/job", json={}, headers=stack.auth("viewer")), 403
    )
    theeye_error(  # ann is a user, but the ACL does not name her
        await stack.api.post(f"/default/task/{ADD}/job", json={}, headers=stack.auth("ann")), 404
    )


async def test_too_few_arguments_are_a_400_naming_how_many_are_required(stack: Stack) -> None:
    await define(stack, FAIL, task_arguments=[{"type": "input", "label": "message"}])
    response = await stack.api.post(
        f"/default/task/{FAIL}/job", json={"task_arguments": []}, headers=stack.auth("admin")
    )
    theeye_error(response, 400, "too few arguments", "requires 1, 0 given")
    response = await stack.api.post(
        f"/default/task/{FAIL}/job", json={"task_arguments": ["boom"]}, headers=stack.auth("admin")
    )
    failed = await job_when(stack, plain(response)["id"], "finished")
    assert (failed["state"], failed["exception"]) == ("failure", "ValueError('boom')")


async def test_example_6_runs_with_the_organisation_and_task_in_the_query(stack: Stack) -> None:
    await define(stack, MUL, task_arguments=TWO_NUMBERS)
    token = stack.tokens["ops"]
    params = {"access_token": token, "customer": "default", "task": MUL}
    response = await stack.api.post("/job", params=params, json={"task_arguments": ["6", "7"]})
    theeye_error(response, 404)  # the ACL does not name ops yet
    await define(stack, MUL, acl=["ops"])
    job = plain(await stack.api.post("/job", params=params, json={"task_arguments": ["6", "7"]}))
    assert (await job_when(stack, job["id"], "finished"))["result"] == "42"
    theeye_error(
        await stack.api.post("/job", params={"access_token": token}, json={}), 400, "customer"
    )


async def test_a_secret_key_run_from_an_html_form_completes_without_a_token(stack: Stack) -> None:
    await define(stack, ADD, task_arguments=TWO_NUMBERS)
    theeye_error(
        await stack.api.get(f"/default/task/{ADD}/credentials", headers=stack.auth("ops")), 403
    )
    key = plain(
        await stack.api.get(f"/default/task/{ADD}/credentials", headers=stack.auth("admin"))
    )["secret"]
    assert len(key) == 64 and int(key, 16) >= 0
    assert (
        plain(await stack.api.get(f"/default/task/{ADD}/credentials", headers=stack.auth("admin")))[
            "secret"
        ]
        == key
    )

    form = {"customer": "default", "task": ADD, "task_arguments[]": ["20", "22"]}
    response = await stack.api.post(f"/job/secret/{key}", data=form)  # x-www-form-urlencoded
    assert response.request.headers["content-type"] == "application/x-www-form-urlencoded"
    job = plain(response)
    assert (job["origin"], job["user"], job["task_arguments_values"]) == (
        "secret",
        "anonymous",
        [20, 22],
    )
    assert (await job_when(stack, job["id"], "finished"))["result"] == "42"

    by_path = await stack.api.post(
        f"/default/task/{ADD}/secret/{key}/job", json={"task_arguments": [1, 2]}
    )
    assert (await job_when(stack, plain(by_path)["id"], "finished"))["result"] == "3"
    runs = await audit(stack, type="tasktrail.command.requested", actor="anonymous")
    assert any(e["event"]["args"]["labels"]["origin"] == "secret" for e in runs)


async def test_a_rotated_key_is_refused_at_once_and_every_refusal_is_audited(stack: Stack) -> None:
    await define(stack, FLAKY, task_arguments=[{"type": "input", "label": "key"}])
    old = plain(
        await stack.api.get(f"/default/task/{FLAKY}/credentials", headers=stack.auth("admin"))
    )["secret"]
    new = plain(await stack.api.put(f"/default/task/{FLAKY}/secret", headers=stack.auth("admin")))[
        "secret"
    ]
    assert new != old
    body = {"customer": "default", "task": FLAKY, "task_arguments": ["k"]}
    theeye_error(await stack.api.post(f"/job/secret/{old}", json=body), 403, "invalid secret key")
    theeye_error(await stack.api.post(f"/job/secret/{new[:40]}", json=body), 403)
    theeye_error(await stack.api.post(f"/job/secret/{new_key()}", json=body), 403)
    job = plain(await stack.api.post(f"/job/secret/{new}", json=body))
    assert (await job_when(stack, job["id"], "finished"))["result"] == "'k: ok after 1 retry'"

    async def refusals() -> list[dict[str, Any]] | None:
        found = [
            e
            for e in await audit(stack, type="tasktrail.catalog.key_refused")
            if e["event"]["entry"] == FLAKY
        ]
        return found if len(found) >= 3 else None

    refused = await eventually(refusals, "the refused keys in the audit trail")
    assert {e["actor"] for e in refused} == {"anonymous"}
    assert sorted(e["event"]["reason"] for e in refused) == [
        "the key is not 64 characters", "wrong key", "wrong key"]  # fmt: skip
    rotations = await audit(stack, type="tasktrail.catalog.key_rotated", actor="admin")
    assert sum(e["event"]["id"] == FLAKY for e in rotations) == 2
    assert old not in str(rotations) and new not in str(rotations)


async def test_one_run_at_a_time_gives_a_clear_409_and_the_time_limit_is_the_timeout(
    stack: Stack,
) -> None:
    seconds = [{"type": "number", "label": "seconds"}]
    await define(stack, SLEEP, multitasking=False, task_arguments=seconds, timeout=60)
    run = f"/default/task/{SLEEP}/job"
    first = plain(
        await stack.api.post(run, json={"task_arguments": ["30"]}, headers=stack.auth("admin"))
    )
    await job_when(stack, first["id"], "started")
    message = theeye_error(
        await stack.api.post(run, json={"task_arguments": ["0"]}, headers=stack.auth("admin")), 409
    )
    assert "one run at a time" in message and first["id"] in message

    revoke = {"ides": [first["id"]], "terminate": True}
    assert (
        await stack.api.post("/monitor/tasks/revoke", json=revoke, headers=stack.auth("ops"))
    ).status_code == 200
    terminated = await job_when(stack, first["id"], "terminated")
    assert (terminated["state"], terminated["status"]) == ("canceled", "REVOKED")

    await define(stack, SLEEP, timeout=1)
    slow = plain(
        await stack.api.post(run, json={"task_arguments": ["20"]}, headers=stack.auth("admin"))
    )
    timed_out = await job_when(stack, slow["id"], "terminated")
    assert (timed_out["state"], timed_out["status"]) == ("timeout", "FAILURE")
    assert timed_out["worker"] == "catalog@tasktrail-test"  # the worker killed it after 1 s


async def test_recipes_export_and_import_and_a_delete_hides_an_entry(stack: Stack) -> None:
    ident = entry_id(APP, "ops.report")
    recipe = {"task": {"name": "ops.report", "description": "weekly", "timeout": 90,
                       "task_arguments": [{"type": "fixed", "value": "all"}]}}  # fmt: skip
    theeye_error(
        await stack.api.post("/default/task/import", json=recipe, headers=stack.auth("ops")), 403
    )
    created = plain(
        await stack.api.post("/default/task/import", json=recipe, headers=stack.auth("admin")), 201
    )
    assert (created["id"], created["description"], created["discovered_by"]) == (
        ident,
        "weekly",
        [],
    )
    exported = plain(
        await stack.api.get(f"/default/task/{ident}/recipe", headers=stack.auth("admin"))
    )
    assert exported == {"task": {**recipe["task"], "tags": None, "multitasking": None}}

    deleted = await stack.api.delete(f"/default/task/{ident}", headers=stack.auth("admin"))
    assert deleted.status_code == 204
    theeye_error(await stack.api.get(f"/default/task/{ident}", headers=stack.auth("admin")), 404)
    assert "ops.report" not in await entries_of(stack, "admin")
    restored = plain(
        await stack.api.post("/default/task/import", json=exported, headers=stack.auth("admin")),
        201,
    )
    assert restored["id"] == ident and restored["timeout"] == 90
    theeye_error(
        await stack.api.get(f"/default/task/{ident}/recipe", headers=stack.auth("ops")), 403
    )
    changes = await audit(stack, type="tasktrail.catalog.deleted", actor="admin")
    assert any(e["event"]["id"] == ident for e in changes)


async def test_clearing_jobs_removes_finished_runs_and_keeps_their_history(stack: Stack) -> None:
    ident = entry_id(APP, "demo.scan")
    await define(
        stack,
        ident,
        task_arguments=[{"type": "input", "label": "net"}, {"type": "number", "label": "port"}],
    )
    run = f"/default/task/{ident}/job"
    ids = []
    for port in ("80", "443"):
        body = {"task_arguments": ["n1", port]}
        ids.append(plain(await stack.api.post(run, json=body, headers=stack.auth("admin")))["id"])
    for job_id in ids:
        await job_when(stack, job_id, "finished")
    theeye_error(await stack.api.delete(run, headers=stack.auth("ops")), 403)
    assert plain(await stack.api.delete(run, headers=stack.auth("admin"))) == {"deletedCount": 2}
    for job_id in ids:
        theeye_error(
            await stack.api.get(f"/default/job/{job_id}", headers=stack.auth("admin")), 404
        )
        history = await stack.api.get(
            f"/monitor/tasks/{job_id}/events", headers=stack.auth("admin")
        )
        types = [e["type"] for e in history.json()["data"]["events"]]
        assert "task-succeeded" in types and "tasktrail.task.deleted" in types
    assert plain(await stack.api.delete(run, headers=stack.auth("admin"))) == {"deletedCount": 0}


async def test_another_organisations_catalog_answers_404(stack: Stack) -> None:
    for path in ("/acme/task", f"/acme/task/{ADD}", f"/acme/job/{uuid.uuid4()}"):
        theeye_error(await stack.api.get(path, headers=stack.auth("admin")), 404, "organisation")
    theeye_error(await stack.api.post(f"/acme/task/{ADD}/secret/{new_key()}/job", json={}), 403)
    theeye_error(
        await stack.api.get(f"/default/job/{uuid.uuid4()}", headers=stack.auth("admin")), 404, "job"
    )
