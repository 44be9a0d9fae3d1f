"""What the notifier's integration tests share: the channels over their real transports, the
notifier's store on a real MongoDB(-wire) server, an SMTP server in the test process, the API
in process, and a real Celery worker (-E) on a real Redis broker with the collector."""

from __future__ import annotations

import asyncio
import ssl
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from celery import Celery
from pymongo import AsyncMongoClient
from tasktrail_api.app import create_app
from tasktrail_api.settings import Settings as ApiSettings
from tasktrail_collector.bootstrap import bootstrap as collector_bootstrap
from tasktrail_collector.settings import Settings as CollectorSettings
from tasktrail_devstack.processes import ServiceProcess, start_celery_worker
from tasktrail_devstack.servers import HOST, free_port, redis_db
from tasktrail_notifier.adapters.http import HttpTransport
from tasktrail_notifier.adapters.smtp import SmtpTransport
from tasktrail_notifier.adapters.store import MongoStore
from tasktrail_notifier.delivery import Channels
from tasktrail_notifier.domain.retry import Backoff

APP = "alerts"
DEMO = "tasktrail_devstack.demo.app"
ADMIN = "alerts-admin-token"
AUTH = {"Authorization": f"Bearer {ADMIN}"}
SECRET = "s3cret"


@pytest.fixture
async def channels() -> AsyncIterator[Channels]:
    http = HttpTransport(timeout=5)
    yield Channels(http, SmtpTransport(timeout=5), time.time, Backoff(attempts=3, base=0.05))
    await http.close()


@pytest.fixture
async def store(mongo_url: str, mongo_db: str) -> AsyncIterator[MongoStore]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
    store = MongoStore(client[mongo_db])
    await store.prepare()
    yield store
    await client.close()


class Inbox:
    def __init__(self) -> None:
        self.mails: list[Envelope] = []
        self.tls: list[str | None] = []
        """Per mail, the TLS version it came over (None: in clear)."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.mails.append(envelope)
        self.tls.append(session.ssl["ssl_object"].version() if session.ssl else None)
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    yield from smtp_server()


def smtp_server(tls: ssl.SSLContext | None = None) -> Iterator[tuple[Inbox, int]]:
    """An SMTP server on a free port; with ``tls``, one that requires STARTTLS first."""
    handler, port = Inbox(), free_port()
    controller = Controller(
        handler, hostname=HOST, port=port, tls_context=tls, require_starttls=tls is not None
    )
    controller.start()
    yield handler, port
    controller.stop()


@pytest.fixture
def broker(redis_url: str) -> str:
    return redis_db(redis_url, 7)


@pytest.fixture
async def collector(broker: str, fresh_nats_url: str, tmp_path: Path) -> AsyncIterator[None]:
    settings = CollectorSettings(
        broker_url=broker, nats_url=fresh_nats_url, app=APP, collector_health_port=0,
        collector_spool_dir=str(tmp_path / "spool"),
    )  # fmt: skip
    running = await collector_bootstrap(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(running.run(stop))
    await asyncio.sleep(0.5)  # subscribed before the worker starts sending
    yield
    stop.set()
    await asyncio.wait_for(task, 30)


@pytest.fixture
async def api(
    fresh_nats_url: str, mongo_url: str, mongo_db: str
) -> AsyncIterator[httpx.AsyncClient]:
    settings = ApiSettings(
        app=APP, mongo_url=mongo_url, nats_url=fresh_nats_url, mongo_db=mongo_db,
        admin_token=ADMIN, api_alert_test_timeout=20,
    )  # fmt: skip
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api", headers=AUTH
        ) as client,
    ):
        yield client


@pytest.fixture
def worker(broker: str, tmp_path: Path, collector: None) -> Iterator[ServiceProcess]:
    env = {"TASKTRAIL_BROKER_URL": broker}
    proc = start_celery_worker(
        DEMO, env=env, name=f"alerts-{uuid.uuid4().hex[:6]}@test", log_path=tmp_path / "w.log"
    )
    yield proc
    proc.stop()


@pytest.fixture
def celery_client(broker: str) -> Iterator[Celery]:
    client = Celery("alerts-test", broker=broker)
    yield client
    client.close()
