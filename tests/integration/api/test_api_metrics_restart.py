"""``/metrics`` across a restart of every service: NATS with JetStream, the MongoDB-wire
server, a Redis broker, a real Celery worker (-E), and the collector, projector, control,
notifier and API as processes, stopped together and started again (on new ports) while the
worker runs on.

Tasks succeed and fail, a failure fires an alert to a local webhook receiver, a command is
sent, a message nobody can read lands in the dead letters. Before the restart, after it and
after more of the same, every counter series on the API's ``/metrics`` (not the processes'
own ``process_*``) is at least what it was, and each equals what the read models hold at
that moment: the tasks' lifecycle times, the completed commands, the settled deliveries,
the dead letters and the projector's position. Each service's health port answers its own
``/metrics`` too, whose figures are the process's and start again with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import nats
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_devstack.processes import ServiceProcess, start_celery_worker
from tasktrail_devstack.servers import NatsServer, redis_db
from tasktrail_devstack.services import Services, running_services
from tasktrail_shared import mongo
from tasktrail_shared.alerts import ALERT_DELIVERIES
from tasktrail_shared.commands import COMPLETED
from tasktrail_shared.counts import LIFECYCLE

from tests.integration.api.support import ADMIN_TOKEN, Doc
from tests.integration.notifier.receivers import Receiver, receiving
from tests.integration.notifier.test_notifier_celery import webhook_rule
from tests.waiting import eventually

APP = "gauged"
DEMO = "tasktrail_devstack.demo.app"
SERVICES = ("collector", "projector", "control", "notifier", "api")
PROCESS = (
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_start_time_seconds",
    "process_open_fds",
)
OWN_COUNTS = {
    "collector": "tasktrail_collector_received_total",
    "projector": "tasktrail_projector_messages_total",
    "notifier": "tasktrail_notifier_events_total",
}
Sample = tuple[str, frozenset[tuple[str, str]]]


def parsed(text: str) -> tuple[dict[Sample, float], set[str]]:
    """Every sample by (name, labels), and the names of the cumulative ones: counters' and
    histograms' samples, but the processes' own (they restart with the process)."""
    values: dict[Sample, float] = {}
    cumulative: set[str] = set()
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            values[(s.name, frozenset(s.labels.items()))] = s.value
            if family.type in ("counter", "histogram") and not s.name.startswith("process_"):
                cumulative.add(s.name)
    return values, cumulative


def summed(values: dict[Sample, float], metric: str, /, **labels: str) -> float:
    """The sum of ``metric``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in values.items() if n == metric and wanted <= ls)


async def read_metrics(services: Services) -> tuple[dict[Sample, float], set[str]]:
    async with httpx.AsyncClient(base_url=services.url("api"), timeout=30) as http:
        answer = await http.get("/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parsed(answer.text)


async def held(db: AsyncDatabase[Doc]) -> dict[Sample, float]:
    """What the read models hold, under the names ``/metrics`` gives them."""
    found: Counter[Sample] = Counter()
    async for task in db[mongo.TASKS].find({"app": APP}):
        for field in LIFECYCLE:
            if isinstance(task.get(field), datetime):
                name = str(task.get("name") or "")
                found[(f"celery_task_{field}_total", frozenset({("name", name)}))] += 1
    completed = {"type": COMPLETED, "app": APP}
    found[("tasktrail_commands_total", frozenset())] = await db[mongo.TASK_EVENTS].count_documents(
        completed
    )
    async for delivery in db[ALERT_DELIVERIES].find({"app": APP}):
        if delivery["state"] in ("delivered", "failed", "silenced"):
            key = ("tasktrail_alert_deliveries_total", frozenset({("outcome", delivery["state"])}))
            found[key] += 1
    found[("tasktrail_dead_letters_total", frozenset())] = await db[
        mongo.DEAD_LETTERS
    ].count_documents({})
    position = await db[mongo.CHECKPOINTS].find_one({"_id": "projector"})
    found[("tasktrail_projected_messages_total", frozenset())] = (position or {}).get("seq", 0)
    return dict(found)


def differences(shown: dict[Sample, float], truth: dict[Sample, float]) -> list[str]:
    return [
        f"{name}{dict(labels)}: /metrics {summed(shown, name, **dict(labels))}, held {n}"
        for (name, labels), n in truth.items()
        if summed(shown, name, **dict(labels)) != n
    ]


async def agreeing(
    services: Services, db: AsyncDatabase[Doc], **wanted: float
) -> tuple[dict[Sample, float], set[str]]:
    """``/metrics`` once it equals the read models, read between two identical scrapes (so
    nothing moved while they were read), and shows ``wanted`` (``name`` -> sum)."""

    async def check() -> tuple[dict[Sample, float], set[str]] | None:
        before, cumulative = await read_metrics(services)
        truth = await held(db)
        after, _ = await read_metrics(services)
        settled = {k: v for k, v in before.items() if k[0] in cumulative}
        if settled != {k: v for k, v in after.items() if k[0] in cumulative}:
            return None
        if any(summed(after, name) != n for name, n in wanted.items()):
            return None
        if differences(after, truth):
            return None
        assert summed(after, "tasktrail_ingest_lag_messages", consumer="projector") >= 0
        return after, cumulative

    return await eventually(check, f"/metrics equal to the read models with {wanted}", timeout=90)


async def health_metrics(services: Services) -> dict[str, dict[Sample, float]]:
    """Each service's health port's ``/metrics`` (the API's own carries its process's)."""
    found = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for name in SERVICES:
            path = "/metrics"
            headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if name == "api" else {}
            answer = await http.get(f"{services.url(name)}{path}", headers=headers)
            assert answer.status_code == 200, (name, answer.text)
            found[name], _ = parsed(answer.text)
    for name, values in found.items():
        for metric in PROCESS:
            assert summed(values, metric) > 0, (name, metric)
    return found


async def run_tasks(client: Celery, adds: int, fails: int) -> None:
    for n in range(adds):
        client.send_task("demo.add", args=[n, 1])
    for n in range(fails):
        client.send_task("demo.fail", args=[f"boom {n}"])


async def command(services: Services, worker: str) -> None:
    async with httpx.AsyncClient(base_url=services.url("api"), timeout=30) as http:
        answer = await http.post(
            "/monitor/workers/ping",
            json={"names": [worker]},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
    assert answer.status_code == 200, answer.text


async def unreadable_message(url: str) -> None:
    """A message on the stream that is no tasktrail event: the projector dead-letters it."""
    nc = await nats.connect(url)
    try:
        await nc.jetstream().publish(f"tasktrail.events.{APP}.celery.task.sent", b"\x00\x01")
    finally:
        await nc.close()


@contextlib.contextmanager
def environment(
    redis_url: str, mongo_url: str, tmp_path: Path
) -> Iterator[tuple[dict[str, str], NatsServer]]:
    with NatsServer(tmp_path / "nats") as nats_server:
        env = {
            "TASKTRAIL_BROKER_URL": redis_db(redis_url, 9),
            "TASKTRAIL_NATS_URL": nats_server.url,
            "TASKTRAIL_MONGO_URL": mongo_url,
            "TASKTRAIL_MONGO_DB": f"t_metrics_{secrets.token_hex(4)}",
            "TASKTRAIL_APP": APP,
            "TASKTRAIL_ADMIN_TOKEN": ADMIN_TOKEN,
            "TASKTRAIL_COLLECTOR_SPOOL_DIR": str(tmp_path / "spool"),
            "TASKTRAIL_NOTIFIER_TICK": "0.2",
            "TASKTRAIL_NOTIFIER_CONFIG_MAX_AGE": "0.3",
        }
        yield env, nats_server


async def started(env: dict[str, str], logs: Path, stack: contextlib.ExitStack) -> Services:
    return await asyncio.to_thread(stack.enter_context, running_services(SERVICES, env, logs))


async def celery_worker(env: dict[str, str], name: str, tmp_path: Path) -> ServiceProcess:
    """A real worker (-E) on the broker, which runs on while the services restart."""
    broker = {"TASKTRAIL_BROKER_URL": env["TASKTRAIL_BROKER_URL"]}
    log_path = tmp_path / "worker.log"
    return await asyncio.to_thread(
        lambda: start_celery_worker(DEMO, env=broker, name=name, log_path=log_path)
    )


async def alerting(services: Services, receiver: Receiver) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=services.url("api"), headers=headers) as api:
        await webhook_rule(api, receiver, "task_failed", {"name": "demo.fail"}, {})


async def test_counters_never_go_down_across_a_restart_and_equal_the_read_models(
    redis_url: str, mongo_url: str, tmp_path: Path
) -> None:
    worker = f"gauged-{uuid.uuid4().hex[:6]}@test"
    with environment(redis_url, mongo_url, tmp_path) as (env, nats_server):
        client = Celery("metrics-client", broker=env["TASKTRAIL_BROKER_URL"])
        client.conf.task_send_sent_event = True
        mongo_client: AsyncMongoClient[Doc] = AsyncMongoClient(mongo_url, tz_aware=True)
        db = mongo_client[env["TASKTRAIL_MONGO_DB"]]
        try:
            async with receiving() as receiver:
                with contextlib.ExitStack() as outer:
                    first = contextlib.ExitStack()
                    services = await started(env, tmp_path / "logs-1", first)
                    outer.enter_context(await celery_worker(env, worker, tmp_path))
                    await alerting(services, receiver)
                    await run_tasks(client, adds=4, fails=2)
                    await command(services, worker)
                    await unreadable_message(nats_server.url)
                    before, cumulative = await agreeing(
                        services, db,
                        celery_task_succeeded_total=4, celery_task_failed_total=2,
                        tasktrail_dead_letters_total=1, tasktrail_commands_total=1,
                        tasktrail_alert_deliveries_total=1,
                    )  # fmt: skip
                    own_before = await health_metrics(services)
                    for name, metric in OWN_COUNTS.items():
                        assert summed(own_before[name], metric) > 0, (name, metric)

                    await asyncio.to_thread(first.close)  # every service stops
                    second = outer.enter_context(contextlib.ExitStack())
                    services = await started(env, tmp_path / "logs-2", second)

                    restarted, _ = await read_metrics(services)
                    for (name, labels), value in before.items():
                        if name in cumulative:
                            assert restarted.get((name, labels), 0) >= value, (name, labels)
                    own_after = await health_metrics(services)
                    for name in SERVICES:  # the processes' own figures are new processes'
                        start = "process_start_time_seconds"
                        assert summed(own_after[name], start) > summed(own_before[name], start)

                    await run_tasks(client, adds=3, fails=1)
                    await command(services, worker)
                    after, _ = await agreeing(
                        services, db,
                        celery_task_succeeded_total=7, celery_task_failed_total=3,
                        tasktrail_dead_letters_total=1, tasktrail_commands_total=2,
                    )  # fmt: skip
                    for (name, labels), value in before.items():
                        if name in cumulative:
                            assert after.get((name, labels), 0) >= value, (name, labels)
                    assert summed(after, "tasktrail_stream_messages_total") >= summed(
                        after, "tasktrail_projected_messages_total"
                    )
        finally:
            client.close()
            await mongo_client.drop_database(env["TASKTRAIL_MONGO_DB"])
            await mongo_client.close()
