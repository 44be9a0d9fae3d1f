"""A real APScheduler 3.x BackgroundScheduler reporting through the client's listener to the
real stack (API over HTTP, NATS JetStream, the projector and its schedule sweep, SecantusDB):
jobs that succeed, raise, overrun and are missed; pause, resume and shutdown; a scheduler
killed with ``kill -9``; tasktrail away for a while."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
from apscheduler.events import EVENT_ALL
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.settings import Settings
from tasktrail_client.apscheduler import TasktrailListener
from tasktrail_devstack.servers import free_port
from tasktrail_shared.schedules import JOB_HEALTH

from tests.integration.api.schedules_support import (
    job_named,
    projecting_schedules,
    serving,
    wait_until,
)
from tests.integration.api.support import ADMIN_TOKEN, Doc

PROCESS = Path(__file__).with_name("scheduler_process.py")


def succeed() -> int:
    return 42


def fail() -> None:
    raise ValueError("card declined")


def overrun() -> None:
    time.sleep(1.2)


async def test_runs_outcomes_and_the_schedulers_state(stack: str, http: httpx.AsyncClient) -> None:
    blocked = threading.Event()
    scheduler = BackgroundScheduler(
        timezone="UTC",
        executors={"default": ThreadPoolExecutor(4), "single": ThreadPoolExecutor(1)},
    )
    listener = TasktrailListener(stack, ADMIN_TOKEN, alias="billing")
    scheduler.add_listener(listener, EVENT_ALL)
    scheduler.add_job(succeed, "interval", seconds=0.5, id="ok")
    scheduler.add_job(fail, "interval", seconds=0.5, id="raises")
    scheduler.add_job(overrun, "interval", seconds=0.3, id="overrun", max_instances=1)
    # the single worker is held by the blocker: the starved job's runs wait in its queue
    # and start more than their misfire grace time late, then none is due for a while
    scheduler.add_job(blocked.wait, id="blocker", executor="single")
    start = datetime.now(UTC) + timedelta(seconds=0.5)
    scheduler.add_job(succeed, "interval", seconds=4, start_date=start, id="starved",
                      executor="single", misfire_grace_time=1, max_instances=10)  # fmt: skip
    scheduler.start()
    try:
        await wait_until(
            http, "/monitor/schedulers/billing/jobs", lambda js: _settled(js), "jobs", timeout=60
        )
        await asyncio.sleep(1.5)  # the second queued run is past its misfire grace time too
    finally:
        blocked.set()
    jobs = await wait_until(
        http, "/monitor/schedulers/billing/jobs",
        lambda js: (job_named(js, "starved") or {}).get("health") == "missed", "jobs",
    )  # fmt: skip
    ok, raises, over, starved = (job_named(jobs, n) for n in ("ok", "raises", "overrun", "starved"))
    assert ok and raises and over and starved
    assert ok["counts"]["executed"] >= 2 and ok["counts"]["error"] == 0 and ok["health"] == "ok"
    assert ok["task"].endswith("succeed") and ok["next_run_time"] is not None
    assert raises["counts"]["error"] >= 2 and raises["health"] == "failing"
    assert "card declined" in raises["last_exception"]
    assert over["counts"]["max_instances"] >= 1 and over["counts"]["executed"] >= 1
    assert starved["counts"]["missed"] >= 2

    scheduler.pause()
    await wait_until(http, "/monitor/schedulers/billing", _state("paused"), "scheduler")
    paused = await wait_until(
        http, "/monitor/schedulers/billing/jobs", lambda js: _all(js, "paused"), "jobs",
        health="paused",
    )  # fmt: skip
    assert {j["job_id"] for j in paused} >= {"ok", "raises", "overrun", "starved"}
    scheduler.resume()
    await wait_until(http, "/monitor/schedulers/billing", _state("running"), "scheduler")
    scheduler.shutdown(wait=False)
    await wait_until(http, "/monitor/schedulers/billing", _state("shutdown"), "scheduler")
    listener.close()
    assert listener.sender.refused == 0 and listener.sender.dropped == 0


def _settled(jobs: list[dict[str, Any]]) -> bool:
    """Every kind of outcome has been seen and judged."""
    by_id = {j["job_id"]: j for j in jobs}
    try:
        return bool(
            by_id["ok"]["counts"]["executed"] >= 2
            and by_id["raises"]["health"] == "failing"
            and by_id["overrun"]["counts"]["max_instances"] >= 1
            and by_id["starved"]["counts"]["submitted"] >= 2
        )
    except KeyError:
        return False


def _state(state: str) -> Any:
    return lambda scheduler: scheduler["state"] == state


def _all(jobs: list[dict[str, Any]], health: str) -> bool:
    return len(jobs) >= 4 and all(j["health"] == health for j in jobs)


async def _health_events(nats_url: str, stream: str) -> list[dict[str, Any]]:
    """Every job health event in the log, in order."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        sub = await js.subscribe(
            f"tasktrail.events.*.{JOB_HEALTH}", stream=stream, ordered_consumer=True
        )
        found: list[dict[str, Any]] = []
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except nats.errors.TimeoutError:
                return found
            found.append(json.loads(msg.data))
    finally:
        await nc.close()


async def test_a_killed_scheduler_leaves_its_jobs_late_then_missed(
    stack: str, http: httpx.AsyncClient, nats_url: str, nats_stream: str
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(PROCESS), stack, ADMIN_TOKEN, "killed",
        stdout=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )  # fmt: skip
    try:
        await wait_until(
            http, "/monitor/schedulers/killed/jobs",
            lambda js: bool(js) and js[0]["counts"]["executed"] >= 1, "jobs",
        )  # fmt: skip
        grace = 3.0
        patched = await http.patch(
            "/monitor/schedulers/killed/jobs/tick", json={"grace_seconds": grace}
        )
        assert patched.status_code == 200, patched.text
        await wait_until(
            http, "/monitor/schedulers/killed/jobs/tick",
            lambda j: j["counts"]["executed"] >= 2 and j["health"] == "ok", "job",
        )  # fmt: skip
    finally:
        process.send_signal(signal.SIGKILL)
        await process.wait()
    killed = time.monotonic()
    job = await wait_until(
        http, "/monitor/schedulers/killed/jobs/tick", lambda j: j["health"] == "missed", "job"
    )
    took = time.monotonic() - killed
    scheduler = await wait_until(
        http, "/monitor/schedulers/killed", _state("unresponsive"), "scheduler"
    )
    print(f"\nkill -9 -> missed: {took:.2f}s (grace {grace}s, sweep every 0.2s)")
    assert job["grace_seconds"] == grace and scheduler["silent_since"] is not None
    healths = [e["health"] for e in await _health_events(nats_url, nats_stream)
               if e["alias"] == "killed"]  # fmt: skip
    assert healths[-2:] == ["late", "missed"], healths


OUTAGE = 30.0


async def test_tasktrail_away_for_30_seconds_loses_no_event(
    nats_url: str, nats_stream: str, mongo_url: str, db: AsyncDatabase[Doc], settings: Settings
) -> None:
    port = free_port()
    ran: list[float] = []
    scheduler = BackgroundScheduler(timezone="UTC")
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with projecting_schedules(nats_url, nats_stream, mongo_url, db, settings.app):
        async with serving(settings, port) as base:
            listener = TasktrailListener(base, ADMIN_TOKEN, alias="away")
            scheduler.add_listener(listener, EVENT_ALL)
            scheduler.add_job(lambda: ran.append(time.time()), "interval", seconds=0.5, id="beat")
            scheduler.start()
            async with httpx.AsyncClient(base_url=base, headers=headers) as http:
                await wait_until(
                    http, "/monitor/schedulers/away/jobs/beat",
                    lambda j: j["counts"]["executed"] >= 2, "job",
                )  # fmt: skip
        before = len(ran)
        await asyncio.sleep(OUTAGE)  # the API is down; the scheduler goes on
        assert len(ran) > before + 10 and listener.sender.pending > 10
        async with serving(settings, port) as base:
            scheduler.shutdown(wait=True)
            assert await asyncio.to_thread(listener.sender.flush, 60)
            async with httpx.AsyncClient(base_url=base, headers=headers) as http:
                job = await wait_until(
                    http, "/monitor/schedulers/away/jobs/beat",
                    lambda j: j["counts"]["executed"] == len(ran), "job",
                )  # fmt: skip
                await wait_until(http, "/monitor/schedulers/away", _state("shutdown"), "scheduler")
    assert job["counts"]["submitted"] == len(ran) and job["counts"]["error"] == 0
    assert listener.sender.dropped == 0 and listener.sender.refused == 0
    listener.close()
