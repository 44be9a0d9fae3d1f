"""The message each channel type receives for one notification, as bytes on the wire. Pure.

* webhook: our JSON body, signed: ``X-Tasktrail-Signature: sha256=<hex>`` is HMAC-SHA256 of
  ``<X-Tasktrail-Timestamp>.<body>`` with the channel's secret, so a receiver checks both
  the body and its age (replay); ``X-Tasktrail-Delivery`` is the notification's id (a resend
  after a crash carries the same one).
* Slack: an incoming-webhook message with one attachment coloured by status.
* Telegram: Bot API ``sendMessage``.
* PagerDuty: Events API v2, ``trigger`` / ``resolve`` with the incident's id as ``dedup_key``.
* Microsoft Teams: a workflow webhook message holding an Adaptive Card.
* e-mail: subject and plain text.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SUMMARY_MAX = 1024
"""PagerDuty's limit on ``payload.summary``."""
COLORS = {"firing": "#d00000", "resolved": "#2eb886"}
SIGNATURE_HEADER = "X-Tasktrail-Signature"
TIMESTAMP_HEADER = "X-Tasktrail-Timestamp"
DELIVERY_HEADER = "X-Tasktrail-Delivery"


@dataclass(frozen=True, slots=True)
class Notice:
    """One notification: what happened, to which incident of which rule."""

    id: str
    status: str
    """``firing`` or ``resolved``."""
    rule: dict[str, str]
    """``id``, ``name``, ``kind``."""
    incident: dict[str, Any]
    """``id``, ``key``, ``app``, ``started_at``, ``resolved_at`` (ISO 8601 or null)."""
    reminder: int = 0
    test: bool = False

    def summary(self) -> str:
        word = "RESOLVED" if self.status == "resolved" else "FIRING"
        if self.test:
            word = f"TEST {word}"
        text = (
            f"[{word}] {self.rule['name']} ({self.rule['kind']}): {self.incident['key']} "
            f"in cluster {self.incident['app']} since {self.incident['started_at']}"
        )
        return text[:SUMMARY_MAX]


@dataclass(frozen=True, slots=True)
class HttpRequest:
    url: str
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Mail:
    sender: str
    to: tuple[str, ...]
    subject: str
    text: str


def iso(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), sort_keys=True).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def webhook(notice: Notice, config: dict[str, Any], now: float) -> HttpRequest:
    body = _json(
        {
            "status": notice.status,
            "rule": notice.rule,
            "incident": notice.incident,
            "summary": notice.summary(),
            "delivery": notice.id,
            "reminder": notice.reminder,
            "test": notice.test,
        }
    )
    timestamp = str(int(now))
    headers = {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(str(config["secret"]), timestamp, body),
        DELIVERY_HEADER: notice.id,
    }
    return HttpRequest(str(config["url"]), body, headers)


def _facts(notice: Notice) -> list[tuple[str, str]]:
    return [
        ("Rule", f"{notice.rule['name']} ({notice.rule['kind']})"),
        ("Key", str(notice.incident["key"])),
        ("Cluster", str(notice.incident["app"])),
        ("Started", str(notice.incident["started_at"])),
        ("Resolved", str(notice.incident.get("resolved_at") or "-")),
    ]


def slack(notice: Notice, config: dict[str, Any], now: float) -> HttpRequest:
    attachment = {
        "color": COLORS[notice.status],
        "title": notice.summary(),
        "fields": [{"title": t, "value": v, "short": True} for t, v in _facts(notice)],
        "footer": "tasktrail",
        "ts": int(now),
    }
    body = {"text": notice.summary(), "attachments": [attachment]}
    return HttpRequest(str(config["url"]), _json(body), {"Content-Type": "application/json"})


def telegram(notice: Notice, config: dict[str, Any], now: float) -> HttpRequest:
    lines = [notice.summary(), *(f"{t}: {v}" for t, v in _facts(notice))]
    body = {"chat_id": config["chat_id"], "text": "\n".join(lines)[:4096]}
    url = f"{str(config['base_url']).rstrip('/')}/bot{config['token']}/sendMessage"
    return HttpRequest(url, _json(body), {"Content-Type": "application/json"})


def pagerduty(notice: Notice, config: dict[str, Any], now: float) -> HttpRequest:
    body: dict[str, Any] = {
        "routing_key": config["routing_key"],
        "event_action": "resolve" if notice.status == "resolved" else "trigger",
        "dedup_key": notice.incident["id"],
    }
    if notice.status != "resolved":
        body["payload"] = {
            "summary": notice.summary()[:SUMMARY_MAX],
            "source": str(notice.incident["app"]),
            "severity": config.get("severity", "error"),
            "component": str(notice.incident["key"]),
            "group": notice.rule["name"],
            "class": notice.rule["kind"],
            "custom_details": {"rule": notice.rule, "incident": notice.incident},
        }
    return HttpRequest(str(config["url"]), _json(body), {"Content-Type": "application/json"})


def teams(notice: Notice, config: dict[str, Any], now: float) -> HttpRequest:
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": [
            {
                "type": "TextBlock",
                "text": notice.summary(),
                "weight": "Bolder",
                "size": "Medium",
                "wrap": True,
                "color": "Good" if notice.status == "resolved" else "Attention",
            },
            {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in _facts(notice)]},
        ],
    }
    body = {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }
    return HttpRequest(str(config["url"]), _json(body), {"Content-Type": "application/json"})


def mail(notices: list[Notice], config: dict[str, Any]) -> Mail:
    """One mail for one or more notifications of one channel (a grouping window's worth)."""
    first = notices[0]
    subject = first.summary() if len(notices) == 1 else f"[tasktrail] {len(notices)} alerts"
    parts = []
    for notice in notices:
        facts = "\n".join(f"  {t}: {v}" for t, v in _facts(notice))
        parts.append(f"{notice.summary()}\n{facts}\n  Incident: {notice.incident['id']}\n")
    return Mail(str(config["sender"]), tuple(config["to"]), subject[:200], "\n".join(parts))


HTTP_FORMATS: dict[str, Callable[[Notice, dict[str, Any], float], HttpRequest]] = {
    "webhook": webhook,
    "slack": slack,
    "telegram": telegram,
    "pagerduty": pagerduty,
    "teams": teams,
}
