"""``make run`` survives a kill -9 of any service under load, as compose's ``restart:
unless-stopped`` would: the stack starts the service again, keeps the others running, loses
no task, and its read models equal a rebuild of the log into an empty database.

The stack watches a broker of the test's own (``TASKTRAIL_BROKER_URL``: no demo) with a real
Celery worker and two collectors, so that the test knows every task it sent and can stop the
traffic before comparing; NATS and MongoDB are the test's own too (``TASKTRAIL_NATS_URL``,
``TASKTRAIL_MONGO_URL``), so that the log and the database outlive the stack for the rebuild.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from celery import Celery
from pymongo import AsyncMongoClient
from tasktrail_devstack.processes import ServiceProcess, descendants, start_celery_worker
from tasktrail_devstack.servers import RedisServer
from tasktrail_devstack.services import port_variable
from tasktrail_projector.settings import Settings
from tasktrail_shared import mongo

from tests.e2e.test_make_run import Stack
from tests.integration.projector.support import (
    Doc,
    drained,
    drop,
    read_models,
    rebuild,
    running,
    settings_for,
    settle,
    wait_drained,
)

pytestmark = pytest.mark.e2e

APP = "survive"
KILLED = ("collector-1", "projector", "control", "notifier", "api", "collector-2")
TASKS_PER_SECOND = 20.0
BACK_TIMEOUT = 45.0


@dataclass(frozen=True, slots=True)
class Service:
    """A service process of the stack, named as the stack names it."""

    label: str
    pid: int
    ready_url: str


def _proc_file(pid: int, name: str) -> list[str]:
    return Path(f"/proc/{pid}/{name}").read_bytes().decode(errors="replace").split("\0")


def _service(pid: int) -> Service | None:
    """What ``pid`` is, from its command line and environment (as ``ps e`` shows them)."""
    try:
        command, environ = _proc_file(pid, "cmdline"), _proc_file(pid, "environ")
    except OSError:
        return None
    script = Path(command[1]).name if len(command) > 1 else ""
    if not script.startswith("tasktrail-"):
        return None
    name = script.removeprefix("tasktrail-")
    env = dict(item.split("=", 1) for item in environ if "=" in item)
    port = env[port_variable(name)]
    label = name
    if name == "collector":  # each replica has a spool of its own: collector-<n>-spool
        label = Path(env["TASKTRAIL_COLLECTOR_SPOOL_DIR"]).name.removesuffix("-spool")
    return Service(label, pid, f"http://127.0.0.1:{port}/readyz")


def services(stack: Stack) -> dict[str, Service]:
    stack.observe()
    found = (_service(pid) for pid in descendants(stack.proc.pid))
    return {service.label: service for service in found if service is not None}


class Traffic(threading.Thread):
    """A steady stream of ``demo.add`` tasks; remembers the id of each one sent."""

    def __init__(self, broker: str) -> None:
        super().__init__(daemon=True)
        self.client = Celery("survive-client", broker=broker)
        self.client.conf.task_send_sent_event = True
        self.sent: list[str] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(1 / TASKS_PER_SECOND):
            n = len(self.sent)
            self.sent.append(self.client.send_task("demo.add", (n, n)).id)

    def stop(self) -> None:
        self.done.set()
        if self.is_alive():
            self.join(10)
        self.client.close()


async def _ready(client: httpx.AsyncClient, url: str) -> bool:
    try:
        return (await client.get(url)).status_code == 200
    except httpx.HTTPError:
        return False


async def wait_running(stack: Stack, timeout: float = 90.0) -> dict[str, Service]:
    async with asyncio.timeout(timeout):
        while "tasktrail is running." not in stack.output.read_text():
            stack.check_alive()
            await asyncio.sleep(0.2)
    found = services(stack)
    assert sorted(found) == sorted(KILLED), found
    return found


async def kill_and_see_it_back(stack: Stack, label: str) -> float:
    """kill -9 one service; wait until the stack has it running and ready again. Returns the
    seconds that took."""
    before = services(stack)
    victim = before[label]
    printed = len(stack.output.read_text())
    killed_at = time.monotonic()
    os.kill(victim.pid, signal.SIGKILL)  # the process alone, as `kill -9 <pid>` does
    async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
        async with asyncio.timeout(BACK_TIMEOUT):
            while True:
                stack.check_alive()
                back = services(stack).get(label)
                if back and back.pid != victim.pid and await _ready(client, back.ready_url):
                    break
                await asyncio.sleep(0.2)
    took = time.monotonic() - killed_at
    said = stack.output.read_text()[printed:]
    assert f"{label}: killed by SIGKILL after" in said, said
    assert f"{label}: restarted (pid {back.pid})" in said, said
    others = {name: s.pid for name, s in before.items() if name != label}
    assert {name: s.pid for name, s in services(stack).items() if name != label} == others
    return took


async def wait_succeeded(settings: Settings, ids: list[str], timeout: float = 90.0) -> None:
    client: AsyncMongoClient[Doc] = mongo.client(settings.mongo_url)
    tasks = client[settings.mongo_db][mongo.TASKS]
    query = {"_id": {"$in": ids}, "state": "SUCCESS"}
    try:
        async with asyncio.timeout(timeout):
            while await tasks.count_documents(query) < len(ids):
                await asyncio.sleep(0.5)
    finally:
        await client.close()


async def wait_quiet(settings: Settings, timeout: float = 60.0) -> None:
    """The projector has everything the stream holds, and the stream has stopped growing."""
    import nats

    nc = await nats.connect(settings.nats_url)
    try:
        js = nc.jetstream()
        async with asyncio.timeout(timeout):
            last = -1
            while True:
                seq = (await js.stream_info(settings.stream)).state.last_seq
                if seq == last and await drained(settings):
                    return
                last = seq
                await asyncio.sleep(1.0)
    finally:
        await nc.close()


async def test_every_service_killed_under_load_comes_back_and_nothing_is_lost(
    tmp_path: Path, fresh_nats_url: str, mongo_url: str, mongo_db: str
) -> None:
    settings = settings_for(fresh_nats_url, mongo_url, mongo_db, "TASKTRAIL", app=APP)
    with RedisServer(tmp_path / "redis") as redis_server:
        broker = redis_server.url
        worker: ServiceProcess | None = start_celery_worker(
            "tasktrail_devstack.demo.app",
            env={"TASKTRAIL_BROKER_URL": broker},
            name="survive@tasktrail-test",
            log_path=tmp_path / "worker.log",
        )
        stack = Stack(
            tmp_path,
            {
                "TASKTRAIL_BROKER_URL": broker,
                "TASKTRAIL_NATS_URL": fresh_nats_url,
                "TASKTRAIL_MONGO_URL": mongo_url,
                "TASKTRAIL_MONGO_DB": mongo_db,
                "TASKTRAIL_APP": APP,
                # what a killed projector had fetched comes back after 2 s, not 30
                "TASKTRAIL_PROJECTOR_ACK_WAIT": "2",
            },
        )
        traffic = Traffic(broker)
        try:
            await wait_running(stack)
            traffic.start()
            back_after = {label: await kill_and_see_it_back(stack, label) for label in KILLED}
            traffic.stop()
            await wait_succeeded(settings, traffic.sent)
            assert worker is not None
            worker.stop()
            worker = None
            await wait_quiet(settings)
            assert "tasktrail: stopping" not in stack.output.read_text()
            stack.proc.send_signal(signal.SIGINT)  # Ctrl-C
            assert await asyncio.to_thread(stack.proc.wait, 60) == 0
            stack.stopped_cleanly = True
        finally:
            traffic.stop()
            if worker is not None:
                worker.stop()
            stack.cleanup()
    print(f"sent {len(traffic.sent)} tasks; back after (s): {back_after}")

    # The control service measures the queues on a timer: a measurement it published while
    # the stack was stopping may have reached the log after the projector stopped. It is
    # applied at the next start, as any message the projector had not yet acknowledged.
    async with running(settings):
        await wait_drained(settings)
    await settle(settings)
    rebuilt = f"{mongo_db}_rebuilt"
    try:
        done = await rebuild(settings, "--into", rebuilt)
        assert done.returncode == 0, done.stderr
        live = await read_models(mongo_url, mongo_db)
        assert set(live[mongo.TASKS]) == set(traffic.sent)
        assert live == await read_models(mongo_url, rebuilt)
    finally:
        await drop(mongo_url, rebuilt)
