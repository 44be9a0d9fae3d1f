"""The web UI's scheduled jobs: schedulers with their state, jobs with their health, and a
job's runs on a strip in time order, as reported through ``POST /event`` and projected by
the real projector; another organisation's scheduler answers 404."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
import pytest

from tests.integration.api.schedules_support import job_named, wait_until
from tests.integration.api.test_api_orgs import (  # noqa: F401  (fixtures)
    B_JOB,
    B_SCHEDULER,
    TwoOrgs,
    controls,
    orgs,
)
from tests.integration.ui.conftest import logged_in
from tests.integration.ui.test_ui_pages import assert_no_inline_code

pytestmark = pytest.mark.usefixtures("projector")

OUTCOMES = ["error", "executed", "missed", "max_instances"]
"""What ``sync`` reported, oldest first: the marks its strip shows, left to right."""


def reports(t: float) -> list[dict[str, Any]]:
    """billing: ``charge`` whose last run raised, ``report`` paused (no next run), and
    ``sync`` with a run of each outcome; all next runs an hour away."""
    nxt = t + 3600
    job = {"alias": "billing", "jobstore": "default"}
    return [
        {"event_code": 1, "alias": "billing", "time": t},
        {**job, "event_code": 512, "job_id": "charge", "task": "billing:charge", "time": t + 0.1,
         "next_scheduled_run_time": nxt},
        {**job, "event_code": 32768, "job_id": "charge", "time": t + 1,
         "next_scheduled_run_time": nxt},
        {**job, "event_code": 8192, "job_id": "charge", "time": t + 1.5,
         "exception": "ValueError('card declined')", "traceback": "Traceback ...\nValueError"},
        {**job, "event_code": 512, "job_id": "report", "task": "billing:report", "time": t + 0.2,
         "next_scheduled_run_time": None},
        {**job, "event_code": 512, "job_id": "sync", "task": "billing:sync", "time": t + 0.3,
         "next_scheduled_run_time": nxt},
        {**job, "event_code": 32768, "job_id": "sync", "time": t + 1,
         "next_scheduled_run_time": nxt},
        {**job, "event_code": 8192, "job_id": "sync", "time": t + 1.5, "exception": "OSError()"},
        {**job, "event_code": 32768, "job_id": "sync", "time": t + 2,
         "next_scheduled_run_time": nxt},
        {**job, "event_code": 4096, "job_id": "sync", "time": t + 2.25, "return_value": "7"},
        {**job, "event_code": 16384, "job_id": "sync", "time": t + 3},
        {**job, "event_code": 65536, "job_id": "sync", "time": t + 4,
         "next_scheduled_run_time": nxt},
    ]  # fmt: skip


@pytest.fixture
async def billing(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The reports posted and projected; the jobs as the REST route shows them."""
    for report in reports(time.time() - 60):
        response = await client.post("/event", json=report)
        assert response.status_code == 200, response.text

    def projected(jobs: list[dict[str, Any]]) -> bool:
        health = {j["job_id"]: j["health"] for j in jobs}
        sync = job_named(jobs, "sync")
        return (
            health.get("charge") == "failing"
            and health.get("report") == "paused"
            and sync is not None
            and sync["counts"]["max_instances"] == 1
        )

    jobs: list[dict[str, Any]] = await wait_until(
        client, "/monitor/schedulers/billing/jobs", projected, "jobs"
    )
    return jobs


def row(html: str, attribute: str, value: str) -> str:
    """The table row (or block) that carries ``attribute="value"``, up to its end."""
    found = re.search(rf'<(tr|div) {attribute}="{re.escape(value)}".*?</\1>', html, re.S)
    assert found, (attribute, value)
    return found.group(0)


def marks(html: str) -> list[str]:
    return re.findall(r'data-outcome="([a-z_]+)"', html)


async def test_schedulers_jobs_health_and_runs_on_a_strip(
    app_client: httpx.AsyncClient, tokens: dict[str, str], billing: list[dict[str, Any]]
) -> None:
    browser = await logged_in(app_client, tokens["viewer"])
    listed = await browser.get("/ui/schedulers")
    assert listed.status_code == 200
    assert_no_inline_code(listed.text)
    assert 'href="/ui/schedulers" aria-current="page"' in listed.text
    billing_row = row(listed.text, "data-scheduler", "billing")
    assert 'data-state="running"' in billing_row
    assert "<td>3</td>" in billing_row  # active jobs
    assert "<time datetime=" in billing_row  # last event, local time with UTC on hover

    page = await browser.get("/ui/schedulers/billing")
    assert page.status_code == 200
    assert_no_inline_code(page.text)
    for job in billing:  # each job's badge is the health the REST route tells
        shown = row(page.text, "data-job", job["job_id"])
        assert f'data-health="{job["health"]}"' in shown
        assert f'class="state health-{job["health"]}"' in shown
    assert "ValueError(&#39;card declined&#39;)" in row(page.text, "data-job", "charge")
    assert marks(row(page.text, "data-job", "sync")) == OUTCOMES
    assert marks(row(page.text, "data-job", "charge")) == ["error"]
    assert marks(row(page.text, "data-job", "report")) == []

    sync = await browser.get("/ui/schedulers/billing/jobs/sync")
    assert sync.status_code == 200
    assert_no_inline_code(sync.text)
    strip = re.search(r'<div class="timeline".*?</div>', sync.text, re.S)
    assert strip is not None
    assert marks(strip.group(0)) == OUTCOMES
    assert 'aria-label="4 runs, oldest first: 1 executed, 1 error, 1 missed, 1 max instances"' in (
        strip.group(0)
    )
    executed = re.search(r'data-outcome="executed" title="([^"]+)"', strip.group(0))
    assert executed is not None
    assert re.fullmatch(r"executed at \d{4}-\d\d-\d\dT[\d:.]+Z UTC, 0\.250 s", executed.group(1))
    assert re.findall(r'data-kind="([a-z_]+)"', sync.text) == [
        "max_instances", "missed", "executed", "submitted", "error", "submitted",
    ]  # fmt: skip
    assert (await browser.get("/ui/schedulers/nope")).status_code == 404
    assert (await browser.get("/ui/schedulers/billing/jobs/nope")).status_code == 404


async def test_the_runs_of_a_job_page_back_in_time(
    app_client: httpx.AsyncClient, client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    t = time.time() - 600
    base = {"alias": "many", "job_id": "tick", "next_scheduled_run_time": t + 3600}
    await client.post("/event", json={**base, "event_code": 512, "task": "t", "time": t})
    for i in range(105):
        response = await client.post("/event", json={**base, "event_code": 4096, "time": t + i})
        assert response.status_code == 200
    await wait_until(
        client, "/monitor/schedulers/many/jobs/tick", lambda j: j["counts"]["executed"] == 105,
        "job",
    )  # fmt: skip
    browser = await logged_in(app_client, tokens["admin"])
    first = await browser.get("/ui/schedulers/many/jobs/tick")
    assert len(marks(first.text)) == 100
    older = re.search(r'href="\?(cursor=[^"]+)">Older runs', first.text)
    assert older is not None
    second = await browser.get(f"/ui/schedulers/many/jobs/tick?{older.group(1)}")
    assert second.status_code == 200
    assert len(marks(second.text)) == 5 and "Older runs" not in second.text


async def test_another_organisation_s_scheduler_is_not_found(
    app_client: httpx.AsyncClient,
    orgs: TwoOrgs,  # noqa: F811
) -> None:
    acme = await logged_in(app_client, orgs.a_admin["Authorization"].removeprefix("Bearer "))
    listed = await acme.get("/ui/schedulers")
    assert listed.status_code == 200 and B_SCHEDULER not in listed.text
    assert (await acme.get(f"/ui/schedulers/{B_SCHEDULER}")).status_code == 404
    assert (await acme.get(f"/ui/schedulers/{B_SCHEDULER}/jobs/{B_JOB}")).status_code == 404
    globex = await logged_in(app_client, orgs.b_admin["Authorization"].removeprefix("Bearer "))
    own = await globex.get("/ui/schedulers")
    assert f'data-scheduler="{B_SCHEDULER}"' in own.text
    page = await globex.get(f"/ui/schedulers/{B_SCHEDULER}")
    assert f'data-job="{B_JOB}"' in page.text
