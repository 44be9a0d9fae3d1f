"""The whole system in one test process, for the catalog's routes: a real Celery worker (-E)
on a real Redis broker, and the collector, projector, control service and API wired by their
own composition roots on a NATS server of their own and a database of their own.

Only the worker is a separate process (Celery's prefork pool, so time limits apply); the
services run in-process, so their code is measured like any unit's.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from celery import Celery
from tasktrail_api.app import create_app
from tasktrail_api.settings import Settings as ApiSettings
from tasktrail_collector.bootstrap import bootstrap as collector_bootstrap
from tasktrail_collector.settings import Settings as CollectorSettings
from tasktrail_control.bootstrap import bootstrap as control_bootstrap
from tasktrail_control.settings import Settings as ControlSettings
from tasktrail_devstack.processes import ServiceProcess, start_celery_worker
from tasktrail_devstack.servers import NatsServer, redis_db
from tasktrail_projector.bootstrap import bootstrap as projector_bootstrap
from tasktrail_projector.settings import Settings as ProjectorSettings

APP = "catalog"
WORKER = "catalog@tasktrail-test"
DEMO = "tasktrail_devstack.demo.app"
BROKER_DB = 9
"""A Redis database of this module's own: Celery's event and pidbox channels carry its number."""
ADMIN_TOKEN = "catalog-admin-token"


@dataclass
class Stack:
    api: httpx.AsyncClient
    """Anonymous."""
    client: Celery
    """A Celery client of the broker, to send tasks the catalog did not start."""
    tokens: dict[str, str]
    """Token name -> secret, for ``ops`` (operator), ``ann`` (operator) and ``viewer``, all of
    the default organisation (``admin`` is root)."""
    admin: httpx.AsyncClient
    ops: httpx.AsyncClient
    ann: httpx.AsyncClient
    viewer: httpx.AsyncClient


@contextlib.contextmanager
def stuck_tasks_reported(report_to: Path, after: float = 90.0) -> Iterator[None]:
    """If the block is still running ``after`` seconds on, print every asyncio task's stack
    (a teardown that waits forever then says on what, instead of only timing out)."""
    loop = asyncio.get_running_loop()
    done = threading.Event()

    def report() -> None:
        if done.wait(after):
            return
        with report_to.open("w") as out:
            print(f"still tearing down after {after:.0f} s; asyncio tasks:", file=out)
            for task in list(asyncio.all_tasks(loop)):
                task.print_stack(file=out)

    threading.Thread(target=report, daemon=True).start()
    try:
        yield
    finally:
        done.set()


@contextlib.asynccontextmanager
async def running_stack(
    redis_url: str, mongo_url: str, mongo_db: str, workdir: Path
) -> AsyncIterator[Stack]:
    broker = redis_db(redis_url, BROKER_DB)
    stop = asyncio.Event()
    with contextlib.ExitStack() as teardown, NatsServer(workdir / "nats") as nats_server:
        common: dict[str, Any] = {"nats_url": nats_server.url, "app": APP}
        projection = await projector_bootstrap(
            ProjectorSettings(
                **common, mongo_url=mongo_url, mongo_db=mongo_db, projector_health_port=0,
                projector_fetch_timeout=0.05, projector_sent_hold=0,
            )
        )  # fmt: skip
        collector = await collector_bootstrap(
            CollectorSettings(
                **common, broker_url=broker, collector_health_port=0,
                collector_spool_dir=str(workdir / "spool"),
            )
        )  # fmt: skip
        control = await control_bootstrap(
            ControlSettings(**common, broker_url=broker, control_health_port=0)
        )
        await control.bus.serve(APP, control.control.handle)
        tasks = [
            asyncio.create_task(projection.run(stop)),
            asyncio.create_task(collector.run(stop)),
        ]
        worker: ServiceProcess | None = None
        client = Celery("catalog-client", broker=broker)
        client.conf.task_send_sent_event = True
        app = create_app(
            ApiSettings(
                **common, mongo_url=mongo_url, mongo_db=mongo_db, admin_token=ADMIN_TOKEN,
                api_write_wait=10.0,
            )
        )  # fmt: skip
        try:
            worker = start_celery_worker(
                DEMO,
                env={"TASKTRAIL_BROKER_URL": broker},
                name=WORKER,
                log_path=workdir / "worker.log",
                concurrency=3,
            )
            transport = httpx.ASGITransport(app=app)
            async with app.router.lifespan_context(app), contextlib.AsyncExitStack() as clients:

                def client_with(token: str | None) -> httpx.AsyncClient:
                    headers = {"Authorization": f"Bearer {token}"} if token else {}
                    return httpx.AsyncClient(
                        transport=transport, base_url="http://api", timeout=30, headers=headers
                    )

                api = await clients.enter_async_context(client_with(None))
                admin = await clients.enter_async_context(client_with(ADMIN_TOKEN))
                tokens = await _tokens(admin)
                users = [
                    await clients.enter_async_context(client_with(tokens[name]))
                    for name in ("ops", "ann", "viewer")
                ]
                try:
                    yield Stack(api, client, tokens, admin, *users)
                finally:
                    teardown.enter_context(stuck_tasks_reported(workdir / "stuck-tasks.txt"))
        finally:
            if worker is not None:
                worker.stop(timeout=10)
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            await control.bus.close()
            control.remote.close()
            await projection.close()
            client.close()


async def _tokens(admin: httpx.AsyncClient) -> dict[str, str]:
    tokens = {}
    for name, role in (("ops", "operator"), ("ann", "operator"), ("viewer", "viewer")):
        body = {"name": name, "role": role, "org": "default"}
        response = await admin.post("/monitor/tokens", json=body)
        assert response.status_code == 201, response.text
        tokens[name] = response.json()["data"]["secret"]
    return tokens


def new_key() -> str:
    return secrets.token_hex(32)
