"""What the notifier's integration tests share: the channels over their real transports, the
notifier's store on a real MongoDB(-wire) server, and an SMTP server in the test process."""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from pymongo import AsyncMongoClient
from tasktrail_devstack.servers import HOST, free_port
from tasktrail_notifier.adapters.http import HttpTransport
from tasktrail_notifier.adapters.smtp import SmtpTransport
from tasktrail_notifier.adapters.store import MongoStore
from tasktrail_notifier.delivery import Channels
from tasktrail_notifier.domain.retry import Backoff


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
