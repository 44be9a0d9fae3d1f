"""Control against real NATS, a real Redis broker and result backend, and real Celery workers.

One worker (``WORKER``), the control service and a NATS server of this module's own are
shared by the tests; tests that stop or kill a worker start one of their own, consuming a
queue nobody sends to, so no task of another test is lost with it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nats
import pytest
from celery import Celery
from celery.result import AsyncResult
from celery.utils.saferepr import saferepr
from nats.aio.client import Client
from tasktrail_control.bootstrap import Wired, bootstrap
from tasktrail_control.settings import Settings
from tasktrail_devstack.processes import ServiceProcess, start_celery_worker
from tasktrail_devstack.servers import NatsServer, redis_db
from tasktrail_shared.commands import CommandName, CommandReply, CommandRequest, control_subject

APP = "ctl"
WORKER = "ctl1@tasktrail-test"
DEMO = "tasktrail_devstack.demo.app"


@pytest.fixture(scope="module")
def broker(redis_url: str) -> tuple[str, str]:
    return redis_db(redis_url, 3), redis_db(redis_url, 4)


@pytest.fixture(scope="module")
def worker_env(broker: tuple[str, str]) -> dict[str, str]:
    return {"TASKTRAIL_BROKER_URL": broker[0], "TASKTRAIL_RESULT_BACKEND": broker[1]}


@pytest.fixture(scope="module")
def module_nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The stream is shared by this module's tests: they tell their events apart by command id."""
    with NatsServer(tmp_path_factory.mktemp("nats")) as server:
        yield server.url


@pytest.fixture(scope="module")
def worker(worker_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    proc: ServiceProcess = start_celery_worker(DEMO, env=worker_env, name=WORKER, log_path=log)
    try:
        yield
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def client(broker: tuple[str, str]) -> Iterator[Celery]:
    app = Celery("tasktrail-test-client", broker=broker[0], backend=broker[1])
    yield app
    app.close()


def _settings(broker: tuple[str, str], module_nats_url: str) -> Settings:
    return Settings(
        broker_url=broker[0],
        result_backend=broker[1],
        nats_url=module_nats_url,
        app=APP,
        control_health_port=0,
    )


@pytest.fixture(scope="module")
async def control(broker: tuple[str, str], module_nats_url: str) -> AsyncIterator[Wired]:
    settings = _settings(broker, module_nats_url)
    wired = await bootstrap(settings)
    await wired.bus.serve(settings.app, wired.control.handle)
    yield wired
    await wired.bus.close()
    wired.remote.close()


@pytest.fixture(scope="module")
async def nc(module_nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(module_nats_url)
    yield client
    await client.close()


@pytest.fixture
def own_worker(
    worker_env: dict[str, str], tmp_path: Path
) -> Iterator[Callable[[str], ServiceProcess]]:
    """Start a worker that only this test uses (it consumes a queue of its own)."""
    started: list[ServiceProcess] = []

    def start(name: str) -> ServiceProcess:
        proc = start_celery_worker(
            DEMO,
            env=worker_env,
            name=name,
            log_path=tmp_path / f"{name}.log",
            queues=[f"tt-{uuid.uuid4().hex[:8]}"],
            concurrency=1,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


async def _send(
    nc: Client,
    command: CommandName,
    *,
    timeout: float = 1.0,
    actor: str = "tester",
    **args: Any,
) -> CommandReply:
    request = CommandRequest(command=command, args=args, actor=actor, timeout=timeout)
    msg = await nc.request(control_subject(APP), request.model_dump_json().encode(), 15)
    reply = CommandReply.model_validate_json(msg.data)
    assert reply.id == request.id
    return reply


async def _events(nc: Client, event_type: str, command_id: str) -> list[dict[str, Any]]:
    """The events of one command, read back from the stream."""
    js = nc.jetstream()
    sub = await js.pull_subscribe(f"tasktrail.events.{APP}.{event_type}", durable=None)
    try:
        msgs = await sub.fetch(1000, timeout=2)
    finally:
        await sub.unsubscribe()
    return [
        json.loads(m.data)
        for m in msgs
        if m.headers and m.headers["ce-id"].startswith(f"{command_id}:")
    ]


async def _eventually(check: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.1)


async def _wait_state(result: AsyncResult, state: str, timeout: float = 20) -> None:
    await _eventually(lambda: result.state == state, f"task never became {state}", timeout)


def _inspect(client: Celery, what: str) -> Any:
    answers = getattr(client.control.inspect([WORKER], timeout=2), what)() or {}
    return answers.get(WORKER)


async def test_revoke_with_terminate_stops_a_running_task(
    worker: None, client: Celery, control: Wired, nc: Client
) -> None:
    result = client.send_task("demo.sleep", args=[30])
    await _wait_state(result, "STARTED")
    reply = await _send(nc, "revoke", ids=[result.id], terminate=True, signal="SIGTERM")
    assert reply.ok, reply.error
    assert reply.workers[WORKER].status == "ok"
    await _wait_state(result, "REVOKED")


async def test_commands_are_recorded_in_the_log_with_their_actor(
    worker: None, control: Wired, nc: Client
) -> None:
    reply = await _send(nc, "revoke", ids=["not-yet-run"], actor="bob")
    assert reply.ok and reply.workers[WORKER].status == "ok"
    requested = await _events(nc, "tasktrail.command.requested", reply.id)
    completed = await _events(nc, "tasktrail.command.completed", reply.id)
    assert len(requested) == len(completed) == 1
    # The projector marks the tasks revoke-requested from this event alone.
    assert requested[0]["actor"] == "bob"
    assert requested[0]["args"] == {"ids": ["not-yet-run"], "terminate": False, "signal": "SIGTERM"}
    assert completed[0]["outcome"]["workers"][WORKER]["status"] == "ok"
    assert completed[0]["outcome"]["duration_ms"] > 0


async def test_a_command_to_an_unknown_worker_fails_clearly_within_its_deadline(
    worker: None, control: Wired, nc: Client
) -> None:
    # A command past its deadline is answered ok=False ("did not finish within"): ok means
    # the missing worker was not waited for beyond the command's own reply window.
    reply = await _send(nc, "shutdown", names=["ghost@nowhere"])
    assert reply.ok and reply.workers["ghost@nowhere"].status == "error"
    assert "no such worker" in str(reply.workers["ghost@nowhere"].detail)
    for command, args in [
        ("pool_grow", {}),
        ("rate_limit", {"task_name": "demo.add", "rate": "1/s"}),
    ]:
        reply = await _send(nc, command, names=["ghost@nowhere", WORKER], **args)  # type: ignore[arg-type]
        assert reply.ok and reply.workers[WORKER].status == "ok"
        assert reply.workers["ghost@nowhere"].status == "error"
        assert "no such worker" in str(reply.workers["ghost@nowhere"].detail)
    await _send(nc, "pool_shrink", names=[WORKER])
    await _send(nc, "rate_limit", names=[WORKER], task_name="demo.add", rate=None)


async def test_shutdown_stops_one_worker_while_the_other_keeps_working(
    worker: None,
    client: Celery,
    control: Wired,
    nc: Client,
    own_worker: Callable[[str], ServiceProcess],
) -> None:
    doomed = own_worker("doomed@tasktrail-test")
    reply = await _send(nc, "shutdown", names=["doomed@tasktrail-test"])
    assert reply.ok and reply.workers["doomed@tasktrail-test"].status == "ok"
    await _eventually(lambda: not doomed.running, "worker did not shut down")
    result = client.send_task("demo.add", args=[20, 22])
    assert await asyncio.to_thread(result.get, timeout=20) == 42
    assert (await _send(nc, "ping", names=[WORKER])).workers[WORKER].status == "ok"


async def test_refresh_records_a_killed_worker_unreachable_and_the_live_one_inspected(
    worker: None, control: Wired, nc: Client, own_worker: Callable[[str], ServiceProcess]
) -> None:
    victim_name = "victim@tasktrail-test"
    victim = own_worker(victim_name)
    assert (await _send(nc, "ping", names=[victim_name])).workers[victim_name].status == "ok"
    victim.kill()

    reply = await _send(nc, "refresh", expected=[victim_name, WORKER])
    assert reply.ok
    assert reply.workers[WORKER].status == "ok"
    assert reply.workers[victim_name].status == "error"
    events = {e["hostname"]: e for e in await _events(nc, "tasktrail.worker.inspected", reply.id)}
    assert events[victim_name]["reachable"] is False and events[victim_name]["stats"] is None
    live = events[WORKER]
    assert live["reachable"] is True and live["actor"] == "tester"
    assert live["stats"]["pool"]["max-concurrency"] == 2
    assert "demo.add" in live["registered"]
    assert "celery" in {q["name"] for q in live["active_queues"]}
    assert isinstance(live["active"], list) and isinstance(live["reserved"], list)


async def test_sync_repairs_tasks_whose_events_were_missed(
    worker: None, broker: tuple[str, str], client: Celery, control: Wired, nc: Client
) -> None:
    done = client.send_task("demo.add", args=[2, 3])
    failed = client.send_task("demo.fail", args=["sync-boom"])
    assert await asyncio.to_thread(done.get, timeout=20) == 5
    await _wait_state(AsyncResult(failed.id, app=client), "FAILURE")
    # A worker with result_extended also keeps the task's name, arguments and hostname.
    extended_app = Celery("tasktrail-test-extended", broker=broker[0], backend=broker[1])
    extended_app.conf.result_extended = True
    extended = uuid.uuid4().hex
    request = SimpleNamespace(
        task="demo.mul",
        args=[6, 7],
        kwargs={},
        hostname="w9@elsewhere",
        retries=1,
        delivery_info={"routing_key": "celery"},
    )
    extended_app.backend.store_result(extended, 42, "SUCCESS", request=request)
    extended_app.close()

    reply = await _send(nc, "sync", ids=[done.id, failed.id, extended, "never-seen"])
    assert reply.ok, reply.error
    assert reply.result == 3
    events = {e["uuid"]: e for e in await _events(nc, "tasktrail.task.reconciled", reply.id)}
    assert set(events) == {done.id, failed.id, extended}
    assert events[done.id]["state"] == "SUCCESS" and events[done.id]["result"] == 5
    assert events[done.id]["date_done"]
    assert events[failed.id]["state"] == "FAILURE"
    assert events[failed.id]["result"] == "ValueError('sync-boom')"
    assert "sync-boom" in events[failed.id]["traceback"]
    assert {k: events[extended][k] for k in ("name", "args", "worker", "retries", "result")} == {
        "name": "demo.mul",
        "args": [6, 7],
        "worker": "w9@elsewhere",
        "retries": 1,
        "result": 42,
    }


async def test_run_starts_a_task_that_completes(
    worker: None, client: Celery, control: Wired, nc: Client
) -> None:
    reply = await _send(nc, "run", name="demo.add", args=[1], kwargs={"y": 2}, countdown=0.2)
    assert reply.ok, reply.error
    result = AsyncResult(reply.result, app=client)
    assert await asyncio.to_thread(result.get, timeout=20) == 3


async def test_run_with_both_eta_and_countdown_is_refused_and_recorded(
    control: Wired, nc: Client
) -> None:
    eta = "2030-01-02T03:04:05Z"
    reply = await _send(nc, "run", name="demo.add", args=[1, 1], eta=eta, countdown=False)
    assert not reply.ok and reply.error is not None and "'countdown'" in reply.error
    reply = await _send(nc, "run", name="demo.add", args=[1, 1], eta=eta, countdown=0)
    assert not reply.ok
    assert reply.error == "invalid arguments for run: give either 'eta' or 'countdown', not both"
    [completed] = await _events(nc, "tasktrail.command.completed", reply.id)
    assert completed["outcome"]["error"] == reply.error


async def test_retry_runs_a_failed_task_again_with_the_same_arguments(
    worker: None, client: Celery, control: Wired, nc: Client
) -> None:
    message = f"boom-{uuid.uuid4().hex[:6]}"
    original = client.send_task("demo.fail", args=[message])
    await _wait_state(original, "FAILURE")
    reply = await _send(
        nc, "retry", id=original.id, name="demo.fail", args=saferepr((message,)), kwargs="{}"
    )
    assert reply.ok, reply.error
    assert reply.result != original.id
    again = AsyncResult(reply.result, app=client)
    await _wait_state(again, "FAILURE")
    assert repr(again.result) == repr(original.result) == f"ValueError({message!r})"

    truncated = saferepr(("x" * 2000,), 1024)
    reply = await _send(nc, "retry", id=original.id, name="demo.fail", args=truncated)
    assert not reply.ok and reply.error is not None
    assert "arguments were not captured in full" in reply.error


async def test_pool_grow_and_shrink_change_the_workers_pool(
    worker: None, client: Celery, control: Wired, nc: Client
) -> None:
    def processes() -> int:
        return len(_inspect(client, "stats")["pool"]["processes"])

    before = processes()
    reply = await _send(nc, "pool_grow", names=[WORKER], n=1)
    assert reply.ok and reply.workers[WORKER].status == "ok"
    await _eventually(lambda: processes() == before + 1, "pool did not grow")
    reply = await _send(nc, "pool_shrink", names=[WORKER], n=1)
    assert reply.ok and reply.workers[WORKER].status == "ok"
    await _eventually(lambda: processes() == before, "pool did not shrink")
    reply = await _send(nc, "autoscale", names=[WORKER], max=3, min=1)
    assert reply.workers[WORKER].status == "error"  # started without --autoscale
    assert "Autoscale not enabled" in str(reply.workers[WORKER].detail)


async def test_rate_and_time_limits_are_answered_per_worker(
    worker: None, control: Wired, nc: Client
) -> None:
    reply = await _send(nc, "rate_limit", names=[WORKER], task_name="demo.scan", rate="100/s")
    assert reply.ok and reply.workers[WORKER].status == "ok"
    reply = await _send(nc, "time_limit", names=[WORKER], task_name="demo.scan", soft=10, hard=20)
    assert reply.ok and reply.workers[WORKER].status == "ok"
    assert "time limits set" in str(reply.workers[WORKER].detail)
    reply = await _send(nc, "rate_limit", names=[WORKER], task_name="no.such.task", rate="1/s")
    assert reply.workers[WORKER].status == "error" and "unknown task" in str(
        reply.workers[WORKER].detail
    )
    await _send(nc, "rate_limit", names=[WORKER], task_name="demo.scan", rate=None)
    await _send(nc, "time_limit", names=[WORKER], task_name="demo.scan")


async def test_add_and_cancel_consumer_change_the_active_queues(
    worker: None, client: Celery, control: Wired, nc: Client
) -> None:
    queue = f"tt-extra-{uuid.uuid4().hex[:6]}"

    def queues() -> set[str]:
        return {q["name"] for q in _inspect(client, "active_queues")}

    reply = await _send(nc, "add_consumer", names=[WORKER], queue=queue)
    assert reply.ok and reply.workers[WORKER].status == "ok"
    await _eventually(lambda: queue in queues(), "queue was not added")
    result = client.send_task("demo.add", args=[1, 1], queue=queue)
    assert await asyncio.to_thread(result.get, timeout=20) == 2
    reply = await _send(nc, "cancel_consumer", names=[WORKER], queue=queue)
    assert reply.ok and reply.workers[WORKER].status == "ok"
    await _eventually(lambda: queue not in queues(), "queue was not cancelled")


async def test_purge_removes_the_queued_messages(
    worker: None, client: Celery, control: Wired, nc: Client
) -> None:
    queue = f"tt-nobody-{uuid.uuid4().hex[:6]}"
    for n in range(3):
        client.send_task("demo.add", args=[n, n], queue=queue)
    reply = await _send(nc, "purge", queue=queue)
    assert reply.ok and reply.result == 3
    assert (await _send(nc, "purge", queue=queue)).result == 0


async def test_a_request_retried_on_another_replica_executes_once(
    worker: None,
    broker: tuple[str, str],
    module_nats_url: str,
    client: Celery,
    control: Wired,
    nc: Client,
) -> None:
    other = await bootstrap(_settings(broker, module_nats_url))
    try:
        request = CommandRequest(command="run", args={"name": "demo.add", "args": [4, 4]})
        first, second = await asyncio.gather(
            control.control.execute(request), other.control.execute(request)
        )
        third = await other.control.execute(request)
    finally:
        await other.bus.close()
        other.remote.close()
    assert first.ok and first == second == third
    assert len(await _events(nc, "tasktrail.command.requested", request.id)) == 1
    result = AsyncResult(first.result, app=client)
    assert await asyncio.to_thread(result.get, timeout=20) == 8
