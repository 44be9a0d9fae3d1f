"""``make run`` end to end: the whole stack as separate processes, seen through the API.

Starts ``tasktrail-dev-stack`` (embedded servers, the four services, a demo worker and
traffic), waits until the API lists demo tasks that succeeded and failed and the dashboard
counts grow, then sends SIGINT and checks that no process of the tree survives.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from tasktrail_devstack.processes import descendants, find_binary, pid_alive, tail_file
from tasktrail_devstack.servers import free_port

pytestmark = pytest.mark.e2e

READY_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0
EXTERNAL = (
    "TASKTRAIL_NATS_URL",
    "TASKTRAIL_MONGO_URL",
    "TASKTRAIL_BROKER_URL",
    "TASKTRAIL_RESULT_BACKEND",
    "TASKTRAIL_API_HOST",
    "TASKTRAIL_APP",
)


def data(response: httpx.Response) -> Any:
    """Unwrap the API envelope, checking that it reports no error."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["err"] is False and body["err_code"] == 0 and body["err_msg"] is None, body
    return body["data"]


class Stack:
    """``tasktrail-dev-stack`` as a user starts it; ``env``: variables the user set."""

    def __init__(self, tmp_path: Path, env: Mapping[str, str] | None = None) -> None:
        self.token = secrets.token_urlsafe(16)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.output = tmp_path / "stack.out"
        environ = {k: v for k, v in os.environ.items() if k not in EXTERNAL}
        environ.update(
            TASKTRAIL_DATA_DIR=str(tmp_path / "data"),
            TASKTRAIL_API_PORT=str(self.port),
            TASKTRAIL_ADMIN_TOKEN=self.token,
            PYTHONUNBUFFERED="1",
            **(env or {}),
        )
        with self.output.open("wb") as out:
            self.proc = subprocess.Popen(
                [find_binary("tasktrail-dev-stack")],
                env=environ,
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.seen: set[int] = set()
        """Every process of the tree ever observed: all must be gone at the end."""
        self.stopped_cleanly = False

    def observe(self) -> None:
        self.seen |= descendants(self.proc.pid)

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            logs = "\n".join(
                f"--- {log.name} ---\n{tail_file(log, 20)}"
                for log in sorted((self.output.parent / "data" / "logs").glob("*.log"))
            )
            pytest.fail(
                f"tasktrail-dev-stack exited with {self.proc.returncode}:\n"
                f"{tail_file(self.output, 60)}\n{logs}"
            )

    def cleanup(self) -> None:
        """If the test failed midway, leave nothing running."""
        if self.stopped_cleanly:
            return
        self.observe()
        for pid in [self.proc.pid, *self.seen]:
            if pid_alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        if self.proc.poll() is None:
            self.proc.wait(10)


def wait_until(stack: Stack, what: str, check: Any, timeout: float) -> Any:
    """Poll ``check()`` until it returns a truthy value, watching the stack meanwhile."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        stack.check_alive()
        stack.observe()
        try:
            result = check()
        except (httpx.HTTPError, AssertionError, KeyError, ValueError) as exc:
            last_error, result = exc, None
        if result:
            return result
        time.sleep(1.0)
    pytest.fail(
        f"{what} not reached in {timeout:.0f} s (last error: {last_error!r})\n"
        f"{tail_file(stack.output, 60)}"
    )


def test_make_run_serves_demo_tasks_and_stops_cleanly(tmp_path: Path) -> None:
    stack = Stack(tmp_path)
    started = time.monotonic()
    try:
        with httpx.Client(
            base_url=stack.url,
            headers={"Authorization": f"Bearer {stack.token}"},
            timeout=5.0,
            trust_env=False,
        ) as api:

            def healthy() -> bool:
                return api.get("/healthz").status_code == 200

            def final_states() -> set[str] | None:
                tasks = data(api.get("/monitor/tasks/"))["celery_tasks"]
                assert isinstance(tasks, list)
                for task in tasks:
                    # a name comes with task-sent/-received; until then it may be unknown
                    assert task["uuid"], task
                    assert task["name"] is None or task["name"].startswith("demo."), task
                states = {task["status"] for task in tasks}
                return states if {"SUCCESS", "FAILURE"} <= states else None

            def successes() -> int:
                count = data(api.get("/monitor/tasks/dashboard/"))["task"]["task_success"]
                assert isinstance(count, int)
                return count

            wait_until(stack, "API /healthz", healthy, READY_TIMEOUT)
            remaining = READY_TIMEOUT - (time.monotonic() - started)
            wait_until(stack, "SUCCESS and FAILURE tasks", final_states, max(remaining, 10.0))
            first = wait_until(stack, "dashboard task_success > 0", successes, 30.0)
            # The demo traffic keeps going: the counts must keep growing.
            wait_until(stack, "task_success growing", lambda: successes() > first, 30.0)

            # Without the token the API refuses.
            assert httpx.get(f"{stack.url}/monitor/tasks/", trust_env=False).status_code in (
                401,
                403,
            )

        printed = stack.output.read_text()
        assert stack.url in printed and stack.token in printed

        stack.observe()
        tree = set(stack.seen)
        # servers (3), services (4), worker (+ pool), traffic
        assert len(tree) >= 10, tree
        stack.proc.send_signal(signal.SIGINT)
        assert stack.proc.wait(STOP_TIMEOUT) == 0, tail_file(stack.output, 60)
        deadline = time.monotonic() + 10
        while any(pid_alive(pid) for pid in tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = {pid for pid in tree if pid_alive(pid)}
        assert not survivors, f"processes left behind: {survivors}"
        stack.stopped_cleanly = True
    finally:
        stack.cleanup()
