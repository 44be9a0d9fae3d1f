"""Seed 002's ``POST /event``: each answer's exact body, durability (200 only once in the
log), a retried report counted once, every APScheduler code accepted, and the read models
and queries the reports make."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import nats
import pytest
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.settings import Settings
from tasktrail_projector.bootstrap import Projection
from tasktrail_shared.schedules import EVENT_CODES

from tests.conftest import delete_event_streams
from tests.integration.api.schedules_support import job_named, projecting_schedules, wait_until
from tests.integration.api.support import ADMIN_TOKEN, Doc, add_token

OK = {"status": "success", "message": "", "data": {}}
BAD = {"status": "failure", "message": "Bad request"}
UNAUTHORISED = {"status": "failure", "message": "Unauthorised user", "data": {}}
FAILED = {"status": "failure", "message": "Internal server error", "data": {}}
TOKEN = {"Authorization": f"Token {ADMIN_TOKEN}"}


@pytest.fixture
async def projection(
    nats_url: str, nats_stream: str, mongo_url: str, db: AsyncDatabase[Doc], settings: Settings
) -> AsyncIterator[Projection]:
    async with projecting_schedules(nats_url, nats_stream, mongo_url, db, settings.app) as running:
        yield running


async def post(api: httpx.AsyncClient, body: Any, headers: dict[str, str] = TOKEN) -> Any:
    response = await api.post("/event", json=body, headers=headers)
    return response.status_code, response.json()


@pytest.mark.usefixtures("projection")
async def test_each_answer_is_the_seeds_envelope(api: httpx.AsyncClient) -> None:
    assert await post(api, {"event_code": 1, "alias": "abc"}) == (200, OK)
    bearer = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    assert await post(api, {"event_code": 1, "alias": "abc"}, bearer) == (200, OK)
    body: Any
    for body in ({"event_code": 3}, {"alias": "x"}, {"event_code": 512}, [], "x",
                 {"event_code": 32768, "job_id": "j", "time": "soon"}):  # fmt: skip
        status, answer = await post(api, body)
        assert status == 400, body
        assert {k: answer[k] for k in ("status", "message")} == BAD
        assert answer["data"]["error"]
    response = await api.post("/event", content=b"{not json", headers=TOKEN)
    assert response.status_code == 400
    assert response.json()["message"] == "Bad request"
    assert await post(api, {"event_code": 1}, {}) == (401, UNAUTHORISED)
    assert await post(api, {"event_code": 1}, {"Authorization": "Token nope"}) == (
        401,
        UNAUTHORISED,
    )


async def test_answers_500_when_the_log_cannot_take_it(
    api: httpx.AsyncClient, nats_url: str
) -> None:
    await delete_event_streams(nats_url)  # no stream: nothing can be made durable
    assert await post(api, {"event_code": 1, "alias": "abc"}) == (500, FAILED)


async def test_200_only_once_in_the_log_and_a_retry_is_kept_once(
    api: httpx.AsyncClient, nats_url: str, nats_stream: str, projection: Projection
) -> None:
    report = {"event_code": 32768, "alias": "a", "job_id": "j", "time": 1_700_000_000_000,
              "next_scheduled_run_time": 1_700_000_060}  # fmt: skip
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        before = (await js.stream_info(nats_stream)).state.messages
        assert await post(api, report) == (200, OK)
        assert (await js.stream_info(nats_stream)).state.messages == before + 1
        assert await post(api, report) == (200, OK)  # the client's retry
        assert (await js.stream_info(nats_stream)).state.messages == before + 1
    finally:
        await nc.close()


async def test_every_apscheduler_code_is_accepted(
    client: httpx.AsyncClient, projection: Projection
) -> None:
    now = time.time()
    for code in sorted(EVENT_CODES):
        body = {"event_code": code, "alias": "all", "job_id": "j1", "job_store": "default",
                "task": "mod:fn", "time": now + code / 1e6}  # fmt: skip
        assert await post(client, body) == (200, OK), code
    every = {"submitted": 1, "executed": 1, "error": 1, "missed": 1, "max_instances": 1}
    # the counts fill as the projector applies the reports: wait for all of them, not one
    job = await wait_until(
        client, "/monitor/schedulers/all/jobs/j1", lambda j: j["counts"] == every, "job"
    )
    assert job["counts"] == every
    assert job["jobstore"] == "default" and job["task"] == "mod:fn"


async def test_reports_make_schedulers_jobs_and_runs(
    client: httpx.AsyncClient, db: AsyncDatabase[Doc], projection: Projection
) -> None:
    t = time.time()
    reports: list[dict[str, Any]] = [
        {"event_code": 1, "alias": "billing", "time": t},
        {"event_code": 512, "alias": "billing", "job_id": 7, "jobstore": "default",
         "task": "billing:charge", "time": t + 0.1, "next_scheduled_run_time": t + 3600},
        {"event_code": 32768, "alias": "billing", "job_id": 7, "time": (t + 1) * 1000,
         "next_scheduled_run_time": (t + 3601) * 1000},
        {"event_code": 8192, "alias": "billing", "job_id": 7, "time": t + 1.5,
         "exception": "ValueError('no')", "traceback": "Traceback ..."},
        {"event_code": 32768, "alias": "billing", "job_id": 7, "time": t + 2,
         "next_scheduled_run_time": t + 3602},
        {"event_code": 4096, "alias": "billing", "job_id": 7, "time": t + 2.25,
         "return_value": "42"},
        {"event_code": 4, "alias": "billing", "time": t + 3},
    ]  # fmt: skip
    for report in reports:
        assert await post(client, report) == (200, OK)
    scheduler = await wait_until(
        client, "/monitor/schedulers/billing", lambda s: s["state"] == "paused", "scheduler"
    )
    assert scheduler["jobs"] == 1 and scheduler["last_event"]["event"] == "scheduler_paused"
    jobs = await wait_until(
        client, "/monitor/schedulers/billing/jobs", lambda js: js and js[0]["health"] == "paused",
        "jobs",
    )  # fmt: skip
    job = job_named(jobs, "7")
    assert job is not None
    assert job["counts"] == {"submitted": 2, "executed": 1, "error": 1, "missed": 0,
                             "max_instances": 0}  # fmt: skip
    assert job["last_exception"] == "ValueError('no')" and job["return_value"] == "42"
    assert job["active"] is True and job["grace_seconds"] == 60.0
    assert job["next_run_time"].startswith(time.strftime("%Y-%m-%d", time.gmtime(t + 3602)))
    runs = await client.get("/monitor/schedulers/billing/jobs/7/runs", params={"limit": 2})
    page = runs.json()["data"]
    assert [r["kind"] for r in page["runs"]] == ["executed", "submitted"]
    assert page["runs"][0]["duration"] == 0.25
    rest = await client.get(
        "/monitor/schedulers/billing/jobs/7/runs", params={"cursor": page["next_cursor"]}
    )
    assert [r["kind"] for r in rest.json()["data"]["runs"]] == ["error", "submitted"]
    # the grace period and maximum run time are set per job (admin)
    patched = await client.patch(
        "/monitor/schedulers/billing/jobs/7", json={"grace_seconds": 5, "max_runtime_seconds": 9}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["data"]["job"]["grace_seconds"] == 5
    assert patched.json()["data"]["job"]["max_runtime_seconds"] == 9
    assert (await client.get("/monitor/schedulers/nope")).status_code == 404
    assert (await client.get("/monitor/schedulers/billing/jobs/8/runs")).status_code == 404


async def test_a_viewer_reads_but_does_not_report_or_configure(
    api: httpx.AsyncClient, db: AsyncDatabase[Doc], projection: Projection
) -> None:
    await add_token(db, "viewer-token", "v", "viewer")
    viewer = {"Authorization": "Token viewer-token"}
    status, _ = await post(api, {"event_code": 1, "alias": "x"}, viewer)
    assert status == 403
    assert (await api.get("/monitor/schedulers", headers=viewer)).json()["data"] == {
        "schedulers": []
    }
