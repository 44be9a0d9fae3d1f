"""``schedule_missed`` end to end: a real APScheduler process reports through the client's
listener to the API (over HTTP); the projector's schedule sweep judges its job; the notifier
reads the verdicts from the log and tells a local webhook receiver. Killed with ``kill -9``,
the scheduler's job goes missed and the rule fires; started again, the job is back on
schedule and runs, and the incident resolves."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.settings import Settings as ApiSettings

from tests.integration.api.schedules_support import projecting_schedules, serving, wait_until
from tests.integration.api.support import Doc
from tests.integration.notifier.receivers import receiving
from tests.integration.notifier.test_notifier_celery import (
    ADMIN,
    APP,
    AUTH,
    notifier,
    verify,
    webhook_rule,
)

PROCESS = Path(__file__).parents[1] / "api" / "scheduler_process.py"
STREAM = "TASKTRAIL"
ALIAS = "nightly"


@pytest.fixture
async def db(mongo_url: str, mongo_db: str) -> AsyncIterator[AsyncDatabase[Doc]]:
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongo_url, tz_aware=True)
    yield client[mongo_db]
    await client.close()


async def scheduler(base: str) -> asyncio.subprocess.Process:
    """The scheduler process: one job, ``tick``, every second."""
    return await asyncio.create_subprocess_exec(
        sys.executable, str(PROCESS), base, ADMIN, ALIAS, stdout=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip


async def kill(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGKILL)
        await process.wait()


async def test_a_missed_job_fires_and_resolves_when_it_runs_again(
    fresh_nats_url: str, mongo_url: str, mongo_db: str, db: AsyncDatabase[Doc]
) -> None:
    settings = ApiSettings(
        app=APP, mongo_url=mongo_url, nats_url=fresh_nats_url, mongo_db=mongo_db,
        admin_token=ADMIN, stream=STREAM,
    )  # fmt: skip
    job = f"/monitor/schedulers/{ALIAS}/jobs/tick"
    async with (
        receiving() as receiver,
        projecting_schedules(fresh_nats_url, STREAM, mongo_url, db, APP),
        serving(settings) as base,
        httpx.AsyncClient(base_url=base, headers=AUTH, timeout=10) as api,
        notifier(fresh_nats_url, mongo_url, mongo_db),
    ):
        _, rule = await webhook_rule(
            api, receiver, "schedule_missed", {"name": "*tick"}, {"scheduler": ALIAS}
        )
        first = await scheduler(base)
        try:
            await wait_until(api, job, lambda j: j["counts"]["executed"] >= 1, "job")
            patched = await api.patch(job, json={"grace_seconds": 2})
            assert patched.status_code == 200, patched.text
            await wait_until(api, job, lambda j: j["counts"]["executed"] >= 2, "job")
            assert receiver.requests == []  # runs on time: nothing fires
        finally:
            await kill(first)
        (firing,) = await receiver.wait_for(1, timeout=60)
        body = verify(firing)
        assert body["status"] == "firing"
        kind = "schedule_missed"
        assert body["rule"] == {"id": rule, "name": f"{kind} rule", "kind": kind}
        incident = body["incident"]
        assert incident["key"] == f"{ALIAS}/tick" and incident["resolved_at"] is None
        assert (await api.get(job)).json()["data"]["job"]["health"] == "missed"

        # Back on schedule (the job re-added with its next run ahead) the sweep judges it ok
        # again, before or as it runs: the incident resolves.
        second = await scheduler(base)
        try:
            (_, resolved) = await receiver.wait_for(2, timeout=60)
            shown = await wait_until(api, job, lambda j: j["counts"]["executed"] >= 3, "job")
        finally:
            await kill(second)
        again = verify(resolved)
        assert again["status"] == "resolved" and again["incident"]["id"] == incident["id"]
        assert again["incident"]["resolved_at"] is not None
        assert shown["health"] == "ok"
    assert [verify(r)["status"] for r in receiver.requests] == ["firing", "resolved"]
