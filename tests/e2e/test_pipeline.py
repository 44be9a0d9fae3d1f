"""The whole system end to end: four services as separate OS processes, a real Celery worker.

Tasks go through a real Redis broker; their events through the collector into JetStream,
through the projector into MongoDB, and come back out of the API over HTTP. A long task is
revoked through the API (API -> NATS -> control -> Celery remote control -> worker).
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from celery import Celery
from tasktrail_devstack.processes import ServiceProcess, start_celery_worker
from tasktrail_devstack.servers import NatsServer, redis_db
from tasktrail_devstack.services import running_services

from tests.waiting import wait_until

pytestmark = pytest.mark.e2e

WORKER = "e2e@tasktrail-test"
SERVICES = ("collector", "projector", "control", "api")


@dataclass
class Stack:
    api: str
    token: str
    client: Celery
    services: dict[str, ServiceProcess]

    def get(self, path: str, **params: Any) -> Any:
        response = httpx.get(
            f"{self.api}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["err"] is False and body["err_code"] == 0 and body["err_msg"] is None
        return body["data"]


@pytest.fixture(scope="module")
def stack(
    redis_url: str, mongo_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("e2e-logs")
    broker, backend = redis_db(redis_url, 7), redis_db(redis_url, 8)
    token = secrets.token_urlsafe(16)
    with NatsServer(tmp_path_factory.mktemp("e2e-nats")) as nats_server:
        env = {
            "TASKTRAIL_BROKER_URL": broker,
            "TASKTRAIL_RESULT_BACKEND": backend,
            "TASKTRAIL_NATS_URL": nats_server.url,
            "TASKTRAIL_MONGO_URL": mongo_url,
            "TASKTRAIL_MONGO_DB": f"e2e_{secrets.token_hex(4)}",
            "TASKTRAIL_APP": "e2e",
            # its own spool: another run on the machine may be using the default one
            "TASKTRAIL_COLLECTOR_SPOOL_DIR": str(tmp_path_factory.mktemp("e2e-spool")),
            "TASKTRAIL_ADMIN_TOKEN": token,
            "TASKTRAIL_API_HOST": "127.0.0.1",
        }
        client = Celery("e2e-client", broker=broker)
        client.conf.task_send_sent_event = True
        with (
            contextlib.closing(client),
            running_services(SERVICES, env, logs) as services,
            start_celery_worker(
                "tasktrail_devstack.demo.app",
                env={"TASKTRAIL_BROKER_URL": broker, "TASKTRAIL_RESULT_BACKEND": backend},
                name=WORKER,
                log_path=logs / "worker.log",
                concurrency=3,
            ),
        ):
            yield Stack(services.url("api"), token, client, services.processes)


def test_services_run_as_separate_processes(stack: Stack) -> None:
    pids = {proc.pid for proc in stack.services.values()}
    assert len(pids) == 4
    assert all(proc.running for proc in stack.services.values())


def test_every_task_appears_with_its_final_state_and_the_dashboard_counts_them(
    stack: Stack,
) -> None:
    adds = [stack.client.send_task("demo.add", args=[i, i]) for i in range(8)]
    fails = [stack.client.send_task("demo.fail", args=[f"boom {i}"]) for i in range(2)]
    flaky = stack.client.send_task("demo.flaky", args=["e2e"])
    expected = {r.id: "SUCCESS" for r in [*adds, flaky]} | {r.id: "FAILURE" for r in fails}

    def all_final() -> dict[str, dict[str, Any]] | None:
        tasks = {t["uuid"]: t for t in stack.get("/monitor/tasks/", limit=1000)["celery_tasks"]}
        if all(tasks.get(uuid, {}).get("status") == state for uuid, state in expected.items()):
            return tasks
        return None

    tasks = wait_until(all_final, what="every task to reach its final state")
    first = tasks[adds[3].id]
    assert first["name"] == "demo.add"
    assert first["worker"] == WORKER
    assert first["args"] == "[3, 3]"
    assert first["result"] == "6"
    assert first["received"] and first["started"] and first["succeeded"]
    assert tasks[fails[0].id]["exception"] == "ValueError('boom 0')"
    assert tasks[flaky.id]["retries"] == 1

    single = stack.get(f"/monitor/tasks/{fails[1].id}/")["celerytask"]
    assert single["uuid"] == fails[1].id and single["status"] == "FAILURE"

    failures = stack.get("/monitor/tasks/", status="FAILURE")["celery_tasks"]
    assert {t["uuid"] for t in failures} == {r.id for r in fails}

    # The dashboard's counts follow the projection within a counter sweep (2 s), and a
    # worker's processed count arrives with its next heartbeat (every 2 s).
    dashboard = wait_until(
        lambda: (
            (d := stack.get("/monitor/tasks/dashboard/"))["task"]["task_failed"] == 2
            and d["task"]["task_success"] == 9
            and d["worker"]["worker_task_processed"] >= 11
            and d
        ),
        timeout=10,
        what="the dashboard's counters to catch up",
    )
    assert dashboard["task"]["task_success"] == 9
    assert dashboard["task"]["task_failed"] == 2
    assert dashboard["worker"]["worker_online"] == 1

    workers = stack.get("/monitor/workers/")["celery_workers"]
    assert [(w["name"], w["status"]) for w in workers] == [(WORKER, True)]


def test_a_chain_links_parent_and_child(stack: Stack) -> None:
    parent = stack.client.signature("demo.add", args=(1, 2))
    child = stack.client.signature("demo.mul", args=(3,))
    result = (parent | child).apply_async()
    child_id, parent_id = result.id, result.parent.id

    def linked() -> Any:
        task = stack.get(f"/monitor/tasks/{parent_id}")["celerytask"]
        return task if task["children"] == [child_id] and task["status"] == "SUCCESS" else None

    wait_until(linked, what="the parent to list its child")
    child_task = stack.get(f"/monitor/tasks/{child_id}")["celerytask"]
    assert child_task["parent_id"] == parent_id and child_task["result"] == "9"


def test_a_long_task_revoked_through_the_api_ends_revoked(stack: Stack) -> None:
    long = stack.client.send_task("demo.sleep", args=[60])
    wait_until(
        lambda: (
            stack.get(f"/monitor/tasks/{long.id}")["celerytask"]["status"] == "STARTED"
            if stack.get("/monitor/tasks/", uuid=long.id)["celery_tasks"]
            else False
        ),
        what="the long task to start",
    )
    response = httpx.post(
        f"{stack.api}/monitor/tasks/revoke/",
        json={"ides": [long.id], "terminate": True},
        headers={"Authorization": f"Token {stack.token}"},
        timeout=15,
    )
    assert response.status_code == 200, response.text
    assert response.json()["data"]["list_revokes"] == {WORKER: [long.id]}
    task = wait_until(
        lambda: (
            (t := stack.get(f"/monitor/tasks/{long.id}")["celerytask"])["status"] == "REVOKED" and t
        ),
        what="the long task to be REVOKED",
    )
    assert task["revoked"] is not None
    dashboard = wait_until(
        lambda: (d := stack.get("/monitor/tasks/dashboard/"))["task"]["task_revoked"] >= 1 and d,
        timeout=10,
        what="the dashboard snapshot to count the revoked task",
    )
    assert dashboard["task"]["task_revoked"] == 1


def test_logs_show_no_errors(stack: Stack) -> None:
    for name, proc in stack.services.items():
        assert proc.running, f"{name} exited:\n{proc.log_tail()}"
        assert '"level": "ERROR"' not in proc.log_since_start(), proc.log_tail()
