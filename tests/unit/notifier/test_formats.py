"""Each channel's message for one notification, byte for byte where the channel cares."""

from __future__ import annotations

import hashlib
import hmac
import json

from tasktrail_notifier.domain.formats import (
    SUMMARY_MAX,
    Notice,
    mail,
    pagerduty,
    slack,
    teams,
    telegram,
    webhook,
)
from tasktrail_notifier.domain.retry import Answer, Backoff, verdict

from tests.notices import FIRING, INCIDENT, RESOLVED, RULE

SUMMARY = "[FIRING] failures (task_failed): demo.add in cluster c1 since 2030-01-01T00:00:00Z"


def test_webhook_body_and_signature() -> None:
    request = webhook(FIRING, {"url": "http://h/x", "secret": "k"}, 1_900_000_000.7)
    assert request.url == "http://h/x"
    assert json.loads(request.body) == {
        "status": "firing", "rule": RULE, "incident": INCIDENT, "summary": SUMMARY,
        "delivery": "n1", "reminder": 0, "test": False,
    }  # fmt: skip
    assert request.headers["X-Tasktrail-Timestamp"] == "1900000000"
    mac = hmac.new(b"k", b"1900000000." + request.body, hashlib.sha256).hexdigest()
    assert request.headers["X-Tasktrail-Signature"] == f"sha256={mac}"
    assert request.headers["X-Tasktrail-Delivery"] == "n1"


def test_slack_attachment_coloured_by_status() -> None:
    firing = json.loads(slack(FIRING, {"url": "http://s"}, 5.0).body)
    resolved = json.loads(slack(RESOLVED, {"url": "http://s"}, 5.0).body)
    assert firing["text"] == SUMMARY
    assert firing["attachments"][0]["color"] == "#d00000"
    assert resolved["attachments"][0]["color"] == "#2eb886"
    assert {"title": "Key", "value": "demo.add", "short": True} in firing["attachments"][0][
        "fields"
    ]


def test_telegram_send_message() -> None:
    request = telegram(FIRING, {"token": "123:abc", "chat_id": 42, "base_url": "http://t/"}, 0)
    assert request.url == "http://t/bot123:abc/sendMessage"
    body = json.loads(request.body)
    assert body["chat_id"] == 42 and body["text"].startswith(SUMMARY + "\nRule: failures")


def test_pagerduty_trigger_then_resolve_with_one_dedup_key() -> None:
    config = {"routing_key": "rk", "url": "http://p", "severity": "critical"}
    trigger = json.loads(pagerduty(FIRING, config, 0).body)
    resolve = json.loads(pagerduty(RESOLVED, config, 0).body)
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == "inc-1"
    assert trigger["routing_key"] == "rk"
    assert trigger["payload"]["severity"] == "critical"
    assert trigger["payload"]["source"] == "c1"
    assert "payload" not in resolve


def test_pagerduty_summary_fits_1024_characters() -> None:
    long = Notice(id="n", status="firing", rule={**RULE, "name": "x" * 5000}, incident=INCIDENT)
    body = json.loads(pagerduty(long, {"routing_key": "k", "url": "http://p"}, 0).body)
    assert len(body["payload"]["summary"]) == SUMMARY_MAX


def test_teams_adaptive_card() -> None:
    body = json.loads(teams(FIRING, {"url": "http://t"}, 0).body)
    (attachment,) = body["attachments"]
    assert body["type"] == "message"
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert card["body"][0]["text"] == SUMMARY and card["body"][0]["color"] == "Attention"


def test_mail_one_or_grouped() -> None:
    one = mail([FIRING], {"sender": "a@x", "to": ["b@x"]})
    assert one.subject == SUMMARY and one.to == ("b@x",) and "Incident: inc-1" in one.text
    two = mail([FIRING, RESOLVED], {"sender": "a@x", "to": ["b@x"]})
    assert two.subject == "[tasktrail] 2 alerts"


def test_retry_verdicts_and_backoff() -> None:
    assert verdict(Answer(code=200)) == "delivered"
    assert verdict(Answer(code=429)) == verdict(Answer(code=503)) == "retry"
    assert verdict(Answer(error="refused")) == "retry"
    assert verdict(Answer(code=404)) == verdict(Answer(code=400)) == "permanent"
    assert verdict(Answer(code=550, permanent=True)) == "permanent"
    backoff = Backoff(base=0.5, cap=4.0)
    assert [backoff.delay(n, Answer(code=500)) for n in (1, 2, 3, 4, 5)] == [0.5, 1, 2, 4, 4]
    assert backoff.delay(1, Answer(code=429, retry_after=3.0)) == 3.0
