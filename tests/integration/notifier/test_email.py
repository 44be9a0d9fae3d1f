"""E-mail: STARTTLS against an SMTP server that requires it (a certificate from a test
authority, trusted by the channel or explicitly not checked), and the grouping window
(notifications that come within a window after a mail go together in the next one), over a
real MongoDB(-wire) store."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
import trustme
from tasktrail_devstack.servers import HOST
from tasktrail_notifier.adapters.store import MongoStore
from tasktrail_notifier.delivery import Channels, Deliverer, Sent
from tasktrail_shared.alerts import ALERT_CHANNELS, ALERT_DELIVERIES

from tests.integration.notifier.conftest import Inbox, smtp_server
from tests.integration.notifier.test_channels import Published
from tests.notices import FIRING, RULE


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_inbox(authority: trustme.CA) -> Iterator[tuple[Inbox, int]]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(HOST).configure_cert(context)
    yield from smtp_server(context)


def mail_config(port: int, **more: Any) -> dict[str, Any]:
    return {"host": HOST, "port": port, "sender": "alerts@example.com", "to": ["ops@example.com"],
            **more}  # fmt: skip


def content(envelope: Any) -> EmailMessage:
    message = message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


async def test_starttls_with_the_channels_own_authority(
    channels: Channels, tls_inbox: tuple[Inbox, int], authority: trustme.CA
) -> None:
    handler, port = tls_inbox
    sent = await send_mail(channels, port, tls_ca=authority.cert_pem.bytes().decode())
    assert sent.outcome == "delivered", sent
    assert handler.tls in (["TLSv1.3"], ["TLSv1.2"])
    assert content(handler.mails[0])["Subject"] == FIRING.summary()


async def send_mail(channels: Channels, port: int, **config: Any) -> Sent:
    return await channels.send({"type": "email", "config": mail_config(port, **config)}, FIRING)


async def test_starttls_without_checking_when_the_channel_says_so(
    channels: Channels, tls_inbox: tuple[Inbox, int]
) -> None:
    handler, port = tls_inbox
    sent = await send_mail(channels, port, tls_verify=False)
    assert sent.outcome == "delivered", sent
    assert len(handler.tls) == 1 and handler.tls[0] is not None


async def test_an_untrusted_certificate_is_a_permanent_refusal(
    channels: Channels, tls_inbox: tuple[Inbox, int]
) -> None:
    handler, port = tls_inbox
    sent = await send_mail(channels, port)
    assert sent.outcome == "permanent" and len(sent.answers) == 1  # not retried
    assert sent.last.error is not None and "certificate not trusted" in sent.last.error
    assert handler.mails == []


async def test_a_server_requiring_starttls_refuses_mail_in_clear(
    channels: Channels, tls_inbox: tuple[Inbox, int]
) -> None:
    handler, port = tls_inbox
    sent = await send_mail(channels, port, starttls=False)
    assert sent.outcome == "permanent" and sent.last.code == 530
    assert handler.mails == []


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def delivery(ident: str, incident: str, key: str) -> dict[str, Any]:
    return {"_id": ident, "incident": incident, "org": "default", "app": "c1", "rule": RULE,
            "key": key, "channel": "mail", "status": "firing", "reminder": 0,
            "state": "pending", "created": datetime.now(UTC)}  # fmt: skip


async def test_a_grouping_window_gathers_notifications_into_one_mail(
    store: MongoStore, channels: Channels, inbox: tuple[Inbox, int]
) -> None:
    handler, port = inbox
    db = store._db
    await db[ALERT_CHANNELS].insert_one(
        {"_id": "mail", "org": "default", "name": "ops", "type": "email", "disabled": None,
         "config": mail_config(port, starttls=False, group_window=60)},
    )  # fmt: skip
    clock, published = Clock(), Published()
    deliverers = [Deliverer(store, published, channels, clock, lease=30) for _ in range(2)]

    async def tick() -> None:
        for deliverer in deliverers:  # two replicas: one mail between them
            await deliverer.run_once()
        for deliverer in deliverers:
            await deliverer.drain()

    await db[ALERT_DELIVERIES].insert_one(delivery("d1", "inc-1", "demo.add"))
    await tick()
    assert len(handler.mails) == 1  # the first goes at once
    first = content(handler.mails[0])
    assert first["Subject"].startswith("[FIRING]") and "inc-1" in first.get_content()

    await db[ALERT_DELIVERIES].insert_many(
        [delivery("d2", "inc-2", "demo.mul"), delivery("d3", "inc-3", "demo.div")]
    )
    clock.now += 59
    await tick()
    assert len(handler.mails) == 1  # within the window: they wait
    clock.now += 1
    await tick()
    await tick()
    assert len(handler.mails) == 2
    second = content(handler.mails[1])
    assert second["Subject"] == "[tasktrail] 2 alerts"
    text = second.get_content()
    assert "inc-2" in text and "inc-3" in text and "inc-1" not in text
    docs = {d["_id"]: d async for d in db[ALERT_DELIVERIES].find({})}
    assert {k: (d["state"], d["mail_of"]) for k, d in docs.items()} == {
        "d1": ("delivered", 1), "d2": ("delivered", 2), "d3": ("delivered", 2),
    }  # fmt: skip
    attempts = sorted(json.loads(e.data)["delivery"] for e in published.events)
    assert attempts == ["d1", "d2", "d3"]  # one attempt each, each in the log
