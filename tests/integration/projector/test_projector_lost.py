"""A real Celery worker killed with SIGKILL mid-task: its heartbeats stop, and its running task
is flagged lost while keeping STARTED, the last state a worker reported."""

from __future__ import annotations

import contextlib
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from celery import Celery
from pymongo import MongoClient
from tasktrail_devstack.processes import start_celery_worker
from tasktrail_devstack.servers import redis_db
from tasktrail_devstack.services import running_services
from tasktrail_shared import mongo

from tests.integration.projector.support import Doc, environment, settings_for
from tests.waiting import wait_until

WORKER = "doomed@tasktrail-test"


def test_a_task_on_a_killed_worker_is_flagged_lost(
    fresh_nats_url: str, mongo_url: str, mongo_db: str, redis_url: str, tmp_path: Path
) -> None:
    broker = redis_db(redis_url, random.randint(10, 15))
    settings = settings_for(fresh_nats_url, mongo_url, mongo_db, "TASKTRAIL", app="lost")
    env = {
        **environment(settings),
        "TASKTRAIL_BROKER_URL": broker,
        "TASKTRAIL_PROJECTOR_LOST_INTERVAL": "0.5",
        "TASKTRAIL_COLLECTOR_SPOOL_DIR": str(tmp_path / "spool"),
    }
    client = Celery("lost-client", broker=broker)
    client.conf.task_send_sent_event = True
    db: MongoClient[Doc] = MongoClient(mongo_url, tz_aware=True)
    with (
        contextlib.closing(client),
        db,
        running_services(("collector", "projector"), env, tmp_path),
        start_celery_worker(
            "tasktrail_devstack.demo.app",
            env={"TASKTRAIL_BROKER_URL": broker},
            name=WORKER,
            log_path=tmp_path / "worker.log",
            concurrency=1,
        ) as worker,
    ):
        task_id = client.send_task("demo.sleep", args=[120]).id
        tasks = db[mongo_db][mongo.TASKS]

        def state() -> str | None:
            doc = tasks.find_one({"_id": task_id})
            return None if doc is None else str(doc["state"])

        wait_until(lambda: state() == "STARTED", "the task to start", timeout=30, interval=0.1)
        assert worker.kill() == -9
        killed = datetime.now(UTC)
        doc = wait_until(
            lambda: tasks.find_one({"_id": task_id, "lost": True}),
            "the task to be lost",
            timeout=30,
            interval=0.1,
        )
        assert (doc["state"], doc["worker"]) == ("STARTED", WORKER)  # its last real state
        assert doc["finished"] is None and doc["started"] is not None
        gone = db[mongo_db][mongo.WORKERS].find_one({"_id": WORKER})
        assert gone is not None and gone["offline_at"] is None  # no worker-offline was sent
        assert gone["alive_until"] <= datetime.now(UTC)
        # offline by Celery's rule: silence for two heartbeat periods after the last one heard
        assert gone["last_heartbeat"] <= killed
        expiry = gone["last_heartbeat"] + timedelta(seconds=2 * gone["freq"])
        assert abs(gone["alive_until"] - expiry) <= timedelta(milliseconds=1)
