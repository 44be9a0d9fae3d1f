"""A real Celery beat, with the client's :class:`TasktrailScheduler`, and a real Celery worker
(-E) on a real Redis broker, reporting to the real stack: the collector carries the worker's
task events into JetStream, the projector folds them with beat's reports, and its schedule
sweep takes each run's outcome from the task beat dispatched. Beat killed leaves its jobs
``missed`` and itself ``unresponsive``."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.settings import Settings
from tasktrail_collector.bootstrap import bootstrap as collector_bootstrap
from tasktrail_collector.settings import Settings as CollectorSettings
from tasktrail_devstack.processes import ServiceProcess, find_binary, start_celery_worker
from tasktrail_devstack.servers import redis_db

from tests.integration.api.schedules_support import SWEEP_INTERVAL, job_named, wait_until
from tests.integration.api.support import ADMIN_TOKEN, Doc

BEAT_APP = "tests.integration.api.beat_app"
ENTRIES = ("adds", "fails", "celery.backend_cleanup")
"""Beat's schedule: the app's two entries and the one Celery adds itself (results expire)."""
SCHEDULER = "tasktrail_client.celery_beat:TasktrailScheduler"
BROKER_DB = 11
"""A Redis database of this module's own: Celery's event channels carry its number."""


@pytest.fixture
def alias() -> str:
    return f"beat-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def celery_env(redis_url: str, stack: str, alias: str) -> dict[str, str]:
    """What beat and the worker are started with: the broker, tasktrail, the alias."""
    return {
        "TASKTRAIL_BROKER_URL": redis_db(redis_url, BROKER_DB),
        "TASKTRAIL_URL": stack,
        "TASKTRAIL_TOKEN": ADMIN_TOKEN,
        "TASKTRAIL_ALIAS": alias,
        "PYTHONPATH": os.pathsep.join(sys.path),
    }


@pytest.fixture
async def collector(
    celery_env: dict[str, str], nats_url: str, nats_stream: str, settings: Settings,
    tmp_path: Path,
) -> AsyncIterator[None]:  # fmt: skip
    """The collector, in-process, from the broker into the projector's stream."""
    running = await collector_bootstrap(
        CollectorSettings(
            broker_url=celery_env["TASKTRAIL_BROKER_URL"], nats_url=nats_url,
            stream=nats_stream, app=settings.app, collector_health_port=0,
            collector_spool_dir=str(tmp_path / "spool"),
        )
    )  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(running.run(stop))
    await asyncio.sleep(0.5)  # subscribed before the worker sends
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@pytest.fixture
def worker(celery_env: dict[str, str], tmp_path: Path, collector: None) -> Iterator[None]:
    proc = start_celery_worker(
        BEAT_APP, env=celery_env, name=f"beat-test-{uuid.uuid4().hex[:6]}@test",
        log_path=tmp_path / "worker.log",
    )  # fmt: skip
    try:
        yield
    finally:
        proc.stop()


@pytest.fixture
def beat(celery_env: dict[str, str], tmp_path: Path) -> Iterator[ServiceProcess]:
    """``celery beat`` with tasktrail's scheduler, its schedule file in ``tmp_path``."""
    command = [
        find_binary("celery"), "-A", BEAT_APP, "beat", "-S", SCHEDULER, "-l", "info",
        "-s", str(tmp_path / "beat-schedule"), "--pidfile=", "--max-interval", "1",
    ]  # fmt: skip
    proc = ServiceProcess("beat", command, log_path=tmp_path / "beat.log", env=celery_env)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(timeout=5)


@pytest.mark.usefixtures("worker", "beat")
async def test_beat_entries_are_jobs_and_runs_follow_their_tasks(
    http: httpx.AsyncClient, alias: str, db: AsyncDatabase[Doc]
) -> None:
    jobs_path = f"/monitor/schedulers/{alias}/jobs"
    jobs = await wait_until(http, jobs_path, lambda js: len(js) == len(ENTRIES), "jobs")
    assert {j["job_id"] for j in jobs} == set(ENTRIES)
    adds, fails = job_named(jobs, "adds"), job_named(jobs, "fails")
    assert adds and fails
    assert (adds["task"], fails["task"]) == ("demo.add", "demo.fail")
    assert adds["jobstore"] == fails["jobstore"] == "beat"
    assert adds["next_run_time"] is not None and fails["next_run_time"] is not None
    scheduler = (await http.get(f"/monitor/schedulers/{alias}")).json()["data"]["scheduler"]
    assert scheduler["state"] == "running" and scheduler["jobs"] == len(ENTRIES)

    jobs = await wait_until(http, jobs_path, _outcomes_seen, "jobs", timeout=40)
    adds, fails = job_named(jobs, "adds"), job_named(jobs, "fails")
    assert adds and fails
    assert adds["health"] == "ok" and adds["counts"]["error"] == 0
    assert fails["health"] == "failing" and fails["counts"]["executed"] == 0
    assert "card declined" in fails["last_exception"]
    await _runs_are_their_tasks(http, db, alias, "adds", "executed", "SUCCESS")
    await _runs_are_their_tasks(http, db, alias, "fails", "error", "FAILURE")


def _outcomes_seen(jobs: list[dict[str, Any]]) -> bool:
    adds, fails = job_named(jobs, "adds"), job_named(jobs, "fails")
    return bool(
        adds
        and fails
        and adds["counts"]["executed"] >= 2
        and fails["counts"]["error"] >= 1
        and fails["health"] == "failing"  # judged by the sweep after it saw the error
    )


async def _runs_are_their_tasks(
    http: httpx.AsyncClient, db: AsyncDatabase[Doc], alias: str, job: str, kind: str,
    state: str,
) -> None:  # fmt: skip
    """Each outcome run names a task beat submitted, and that task ended as the run says."""
    response = await http.get(f"/monitor/schedulers/{alias}/jobs/{job}/runs", params={"limit": 100})
    runs = response.json()["data"]["runs"]
    submitted = {r["celery_task_id"] for r in runs if r["kind"] == "submitted"}
    outcomes = [r for r in runs if r["kind"] in ("executed", "error")]
    assert outcomes and all(r["kind"] == kind and r["via"] == "task" for r in outcomes), runs
    for run in outcomes:
        assert run["celery_task_id"] in submitted, run
        task = await db.tasks.find_one({"_id": run["celery_task_id"]})
        assert task is not None and task["state"] == state, task
        assert task["name"] == f"demo.{'add' if job == 'adds' else 'fail'}"
        if kind == "error":
            assert "card declined" in run["exception"], run


async def test_a_killed_beat_leaves_its_jobs_missed_and_itself_unresponsive(
    http: httpx.AsyncClient, alias: str, beat: ServiceProcess
) -> None:
    job_path = f"/monitor/schedulers/{alias}/jobs/adds"
    await wait_until(http, job_path, lambda j: j["counts"]["submitted"] >= 1, "job", timeout=30)
    grace = 2.0
    patched = await http.patch(job_path, json={"grace_seconds": grace})
    assert patched.status_code == 200, patched.text
    await wait_until(
        http, job_path, lambda j: j["counts"]["submitted"] >= 3 and j["health"] == "ok", "job"
    )
    beat.kill()
    killed = time.monotonic()
    job = await wait_until(http, job_path, lambda j: j["health"] == "missed", "job")
    took = time.monotonic() - killed
    scheduler = await wait_until(
        http, f"/monitor/schedulers/{alias}", lambda s: s["state"] == "unresponsive", "scheduler"
    )
    print(f"\nbeat kill -9 -> missed: {took:.2f}s (grace {grace}s, sweep every {SWEEP_INTERVAL}s)")
    assert job["grace_seconds"] == grace and scheduler["silent_since"] is not None
