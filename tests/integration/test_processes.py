"""Child processes stop without orphans; the demo worker runs tasks and emits events."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from tasktrail_devstack.demo import traffic
from tasktrail_devstack.processes import (
    ProcessFailed,
    ServiceProcess,
    descendants,
    pid_alive,
    start_celery_worker,
    stop_all,
)
from tasktrail_devstack.servers import RedisServer
from tasktrail_devstack.supervision import RestartPolicy, State
from tasktrail_devstack.watch import Watch

# A parent that ignores SIGTERM and has two children of its own: only the group kill ends it.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
children = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
            for _ in range(2)]
print("children up", flush=True)
time.sleep(120)
"""


def wait_for(predicate: object, timeout: float = 10.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_stop_leaves_no_orphan(tmp_path: Path) -> None:
    proc = ServiceProcess(
        "stubborn", [sys.executable, "-c", STUBBORN], log_path=tmp_path / "stubborn.log"
    ).start()
    proc.wait_log("children up", timeout=10)
    tree = descendants(proc.pid)
    assert len(tree) == 2
    assert proc.stop(timeout=0.5) == -9  # it ignores SIGTERM: stop escalated to SIGKILL
    assert not proc.running
    wait_for(lambda: not any(pid_alive(p) for p in {proc.pid, *tree}))
    assert "children up" in proc.log_tail()


def test_kill_ends_the_group(tmp_path: Path) -> None:
    with ServiceProcess(
        "stubborn", [sys.executable, "-c", STUBBORN], log_path=tmp_path / "stubborn.log"
    ) as proc:
        proc.wait_log("children up", timeout=10)
        tree = descendants(proc.pid)
        assert proc.kill() == -9
    wait_for(lambda: not any(pid_alive(p) for p in tree))


def test_an_early_exit_is_reported_with_the_log(tmp_path: Path) -> None:
    proc = ServiceProcess(
        "broken",
        [sys.executable, "-c", "import sys; print('cannot start: bad config'); sys.exit(3)"],
        log_path=tmp_path / "broken.log",
    ).start()
    try:
        with pytest.raises(ProcessFailed, match=r"(?s)exited with code 3.*bad config"):
            proc.wait_http_ok("http://127.0.0.1:9/healthz", timeout=10)
    finally:
        assert proc.stop() == 3


def test_env_overrides_and_log_file(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "env.log"
    with ServiceProcess(
        "env",
        [sys.executable, "-c", "import os; print(os.environ['TASKTRAIL_X'], os.environ['PATH'])"],
        log_path=log,
        env={"TASKTRAIL_X": "forty-two"},
    ) as proc:
        wait_for(lambda: not proc.running)
        assert proc.exit_code() == 0
    assert log.read_text().startswith("forty-two ")


def test_watch_restarts_a_killed_child_and_gives_up_on_a_broken_one(tmp_path: Path) -> None:
    sleeper = ServiceProcess(
        "sleeper",
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(120)"],
        log_path=tmp_path / "sleeper.log",
    )
    broken = ServiceProcess(
        "broken",
        [sys.executable, "-c", "import sys; print('cannot start: bad config'); sys.exit(3)"],
        log_path=tmp_path / "broken.log",
    )
    said: list[str] = []
    policy = RestartPolicy(first_delay=0.05, stable_after=5.0, give_up_after=3)
    try:
        sleeper.start().wait_log("up", timeout=10)
        broken.start()
        watch = Watch([sleeper, broken], policy, say=said.append)
        first = sleeper.pid
        os.kill(first, signal.SIGKILL)  # the leader only, as `kill -9 <pid>` does

        def settled() -> bool:
            watch.poll()
            back = sleeper.running and sleeper.pid != first
            return back and watch.supervisor.state("broken") is State.GIVEN_UP

        wait_for(settled, timeout=15)
        sleeper.wait_log("up", timeout=10)  # the new run's own output
        for _ in range(5):  # given up: left down however long we watch
            watch.poll()
            time.sleep(0.05)
        assert not broken.running
    finally:
        stop_all([sleeper, broken], timeout=5)
    lines = "\n".join(said)
    assert "sleeper: killed by SIGKILL after" in lines
    assert f"sleeper: restarted (pid {sleeper.pid})" in lines
    assert lines.count("broken: exited with code 3") == 3
    assert "3 crashes in a row" in lines and "cannot start: bad config" in lines
    assert lines.count("broken: restarted") == 2


@pytest.fixture
def demo_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own: the worker's events must not reach other tests' listeners."""
    with RedisServer(tmp_path / "redis") as server:
        yield server


def test_demo_worker_runs_tasks_and_emits_events(tmp_path: Path, demo_redis: RedisServer) -> None:
    broker, backend = demo_redis.url, demo_redis.db_url(1)
    events = redis.Redis.from_url(broker).pubsub()
    events.psubscribe("*celeryev*")
    worker = start_celery_worker(
        "tasktrail_devstack.demo.app",
        env={"TASKTRAIL_BROKER_URL": broker, "TASKTRAIL_RESULT_BACKEND": backend},
        name="t1@%h",
        log_path=tmp_path / "worker.log",
        concurrency=2,
    )
    try:
        pool = descendants(worker.pid)
        assert len(pool) >= 2  # prefork pool processes
        client = Celery("client", broker=broker, backend=backend)
        assert client.send_task("demo.add", (2, 3)).get(timeout=20) == 5
        chain = (client.signature("demo.add", (1, 2)) | client.signature("demo.mul", (3,))).delay()
        assert chain.get(timeout=20) == 9
        with pytest.raises(ValueError, match="boom"):
            client.send_task("demo.fail", ("boom",)).get(timeout=20)
        assert client.send_task("demo.flaky", ("k",)).get(timeout=20) == "k: ok after 1 retry"
        assert client.send_task("demo.scan", ("net-1", 443)).get(timeout=20) == "net-1:443 open"
        assert traffic.run(client, stop_after=1.2, interval=0.2) >= 3

        # -E: the worker's task events reach the broker's event fanout, where the collector
        # reads them (grouped as task.multi, or one by one).
        worker_task_events = {"task.multi", "task.received", "task.started", "task.succeeded"}
        seen: set[str] = set()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not seen & worker_task_events:
            message = events.get_message(timeout=1)
            if message and message["type"] == "pmessage":
                seen.add(message["channel"].decode().rsplit("/", 1)[-1])
        assert seen & worker_task_events, seen
        client.close()
    finally:
        events.close()
        tree = {worker.pid, *descendants(worker.pid)}
        worker.stop(timeout=10)
    assert not worker.running
    wait_for(lambda: not any(pid_alive(p) for p in tree))
    assert "t1@" in worker.log_tail(200)
