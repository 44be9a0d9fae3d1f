"""Every channel type through its real transport to a local receiver (HTTP, or SMTP with
aiosmtpd), delivery retries and a permanently refusing channel being disabled (against a
real MongoDB-wire store), and "send test" from the API through a running notifier."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
from tasktrail_api.app import create_app
from tasktrail_api.settings import Settings as ApiSettings
from tasktrail_devstack.servers import HOST
from tasktrail_notifier.adapters.store import MongoStore
from tasktrail_notifier.delivery import Channels, Deliverer
from tasktrail_notifier.domain.formats import Notice
from tasktrail_shared.alerts import ALERT_CHANNELS, ALERT_DELIVERIES

from tests.integration.notifier.conftest import Inbox
from tests.integration.notifier.receivers import receiving
from tests.integration.notifier.test_notifier_celery import ADMIN, AUTH, notifier, verify
from tests.notices import FIRING, INCIDENT, RESOLVED, RULE


class Published:
    def __init__(self) -> None:
        self.events: list[Any] = []

    async def publish(self, message: Any) -> None:
        self.events.append(message)


async def test_slack_telegram_pagerduty_teams_reach_their_receivers(channels: Channels) -> None:
    async with receiving() as receiver:
        url = receiver.url
        cases: list[tuple[str, dict[str, Any], Notice]] = [
            ("slack", {"url": f"{url}/slack"}, FIRING),
            ("telegram", {"token": "1:A", "chat_id": "-100", "base_url": url}, FIRING),
            ("pagerduty", {"routing_key": "rk", "url": f"{url}/v2/enqueue"}, FIRING),
            ("pagerduty", {"routing_key": "rk", "url": f"{url}/v2/enqueue"}, RESOLVED),
            ("teams", {"url": f"{url}/teams"}, FIRING),
        ]
        for kind, config, notice in cases:
            sent = await channels.send({"type": kind, "config": config}, notice)
            assert sent.outcome == "delivered", (kind, sent)
    slack, tg, trigger, resolve, teams = receiver.requests
    assert slack.path == "/slack" and slack.json()["attachments"][0]["color"] == "#d00000"
    assert tg.path == "/bot1:A/sendMessage" and tg.json()["chat_id"] == "-100"
    assert tg.headers["content-type"] == "application/json"
    assert trigger.path == "/v2/enqueue"
    assert (trigger.json()["event_action"], resolve.json()["event_action"]) == (
        "trigger",
        "resolve",
    )
    assert trigger.json()["dedup_key"] == resolve.json()["dedup_key"] == "inc-1"
    content = teams.json()["attachments"][0]
    assert content["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert content["content"]["type"] == "AdaptiveCard"


async def test_webhook_is_signed(channels: Channels) -> None:
    async with receiving() as receiver:
        config = {"url": f"{receiver.url}/hook", "secret": "s3cret"}
        await channels.send({"type": "webhook", "config": config}, FIRING)
    body = verify(receiver.requests[0])
    assert body["status"] == "firing" and body["incident"] == INCIDENT and body["rule"] == RULE


async def test_email_over_smtp(channels: Channels, inbox: tuple[Inbox, int]) -> None:
    handler, port = inbox
    config = {
        "host": HOST, "port": port, "starttls": False, "sender": "alerts@example.com",
        "to": ["ops@example.com", "dev@example.com"],
    }  # fmt: skip
    sent = await channels.send({"type": "email", "config": config}, FIRING)
    assert sent.outcome == "delivered"
    (envelope,) = handler.mails
    assert envelope.mail_from == "alerts@example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "dev@example.com"]
    assert isinstance(envelope.content, bytes)
    message = message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Subject"] == FIRING.summary()
    assert "Incident: inc-1" in message.get_content()


async def _deliver_one(store: MongoStore, channels: Channels, url: str) -> dict[str, Any]:
    db = store._db
    await db[ALERT_CHANNELS].insert_one(
        {"_id": "ch", "org": "default", "name": "h", "type": "webhook",
         "config": {"url": url, "secret": "s"}, "disabled": None},
    )  # fmt: skip
    await db[ALERT_DELIVERIES].insert_one(
        {"_id": "d1", "incident": "inc-1", "org": "default", "app": "c1", "rule": RULE,
         "key": "demo.add", "channel": "ch", "status": "firing", "reminder": 0,
         "state": "pending", "created": datetime.now(UTC)},
    )  # fmt: skip
    published = Published()
    deliverer = Deliverer(store, published, channels, time.time, lease=30)
    await deliverer.run_once()
    await deliverer.drain()
    attempts = [json.loads(e.data) for e in published.events]
    doc = await db[ALERT_DELIVERIES].find_one({"_id": "d1"})
    assert doc is not None
    return {"delivery": doc, "attempts": attempts, "channel": await store.channel("ch")}


async def test_429_is_retried_and_delivered(store: MongoStore, channels: Channels) -> None:
    async with receiving(429) as receiver:
        found = await _deliver_one(store, channels, receiver.url)
    assert [r.status for r in receiver.requests] == [429, 200]
    assert found["delivery"]["state"] == "delivered" and found["delivery"]["attempts"] == 2
    outcomes = [(a["attempt"], a["outcome"], a["code"]) for a in found["attempts"]]
    assert outcomes == [(1, "retry", 429), (2, "delivered", 200)]
    assert found["channel"]["disabled"] is None


async def test_a_permanent_error_disables_the_channel(
    store: MongoStore, channels: Channels
) -> None:
    async with receiving(404) as receiver:
        found = await _deliver_one(store, channels, receiver.url)
    assert [r.status for r in receiver.requests] == [404]  # not retried
    assert found["delivery"]["state"] == "failed" and found["delivery"]["code"] == 404
    assert found["channel"]["disabled"]["reason"].startswith("404")


async def test_send_test_from_the_api(fresh_nats_url: str, mongo_url: str, mongo_db: str) -> None:
    settings = ApiSettings(
        app="alerts", mongo_url=mongo_url, nats_url=fresh_nats_url, mongo_db=mongo_db,
        admin_token=ADMIN, api_alert_test_timeout=20,
    )  # fmt: skip
    app = create_app(settings)
    async with (
        receiving() as receiver,
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api", headers=AUTH
        ) as api,
        notifier(fresh_nats_url, mongo_url, mongo_db),
    ):
        body = {"name": "h", "type": "webhook", "config": {"url": receiver.url, "secret": "s3cret"}}
        created = (await api.post("/monitor/alerts/channels", json=body)).json()["data"]
        assert created["channel"]["config"] == {"url": receiver.url, "secret": "********"}
        channel = created["channel"]["id"]
        answer = await api.post(f"/monitor/alerts/channels/{channel}/test")
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"]["outcome"] == {
            "ok": True, "code": 200, "error": None, "attempts": 1,
        }  # fmt: skip
        await asyncio.sleep(0)
    sent = verify(receiver.requests[0])
    assert sent["test"] is True and sent["status"] == "firing"
