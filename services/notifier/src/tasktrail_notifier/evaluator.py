"""Fold the log into observations; on each tick, evaluate every rule and record the incident
changes: the incident document, its event in the log, and one pending delivery per channel
(the outbox the deliverer works through).

Ticks evaluate only once the consumer has caught up with the log: while it replays, the
observations are behind the clock, and a worker whose later heartbeats are not read yet
would look offline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime
from typing import Any

from tasktrail_shared.alerts import DELIVERY_ATTEMPTED, INCIDENT_OPENED, INCIDENT_RESOLVED
from tasktrail_shared.celery_wire import InvalidEvent, decode_celery_events
from tasktrail_shared.own_events import DEFAULT_ORG
from tasktrail_shared.queues import QUEUE_MEASURED, QueueMeasured
from tasktrail_shared.schedules import JOB_HEALTH, REPORTED
from tasktrail_shared.stream_message import StreamMessage, own_event

from tasktrail_notifier.domain.conditions import holding
from tasktrail_notifier.domain.formats import iso
from tasktrail_notifier.domain.incidents import Book, Change, Incident, notification_id
from tasktrail_notifier.domain.observations import Observations
from tasktrail_notifier.domain.rules import Rule
from tasktrail_notifier.ports import Doc, Publisher, Store

log = logging.getLogger(__name__)
SOURCE = "tasktrail-notifier"
REPLAY_MARGIN = 120.0
"""Seconds read before what an open incident's condition needs (its last heartbeat...)."""
__all__ = ["DELIVERY_ATTEMPTED", "SOURCE", "Evaluator", "publish_event"]


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


async def publish_event(
    publisher: Publisher, app: str, event_type: str, event_id: str, payload: dict[str, Any]
) -> None:
    """An own event, best effort: deliveries are kept in the store whatever the log says."""
    try:
        await publisher.publish(
            own_event(app=app, type=event_type, payload=payload, source=SOURCE, id=event_id)
        )
    except Exception as exc:
        log.warning("%s %s not written to the log: %s", event_type, event_id, exc)


@dataclass(eq=False)
class Evaluator:
    store: Store
    publisher: Publisher
    clock: Callable[[], float]
    _: KW_ONLY
    config_max_age: float = 1.0

    def __post_init__(self) -> None:
        self._config_read = float("-inf")
        self.observations = Observations()
        self.book = Book()
        self.rules: list[Rule] = []
        self.owners: dict[str, str] = {}
        self.caught_up = False

    def on_message(self, message: StreamMessage, pending: int) -> None:
        if message.type.startswith("celery."):
            try:
                events = decode_celery_events(message)
            except InvalidEvent as exc:
                log.debug("unreadable Celery message %s: %s", message.id, exc)
                events = []
            for event in events:
                self.observations.fold(message.app, message.received, event)
        elif message.type in (JOB_HEALTH, REPORTED):
            self._fold_schedule(message)
        elif message.type == QUEUE_MEASURED:
            self._measured(message)
        self.caught_up = pending == 0

    def _fold_schedule(self, message: StreamMessage) -> None:
        try:
            payload = message.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            self.observations.fold_schedule(message.app, message.type == JOB_HEALTH, payload)

    def _measured(self, message: StreamMessage) -> None:
        try:
            measured = QueueMeasured.model_validate_json(message.data)
        except ValueError as exc:
            log.debug("unreadable queue measurement %s: %s", message.id, exc)
            return
        self.observations.measured(message.app, measured.at, measured.depths)

    async def refresh(self, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._config_read < self.config_max_age:
            return
        rules = []
        for doc in await self.store.rules():
            try:
                rules.append(Rule.from_document(doc))
            except (KeyError, ValueError) as exc:
                log.warning("rule %s cannot be evaluated: %s", doc.get("_id"), exc)
        self.rules, self.owners, self._config_read = rules, await self.store.owners(), now

    async def restore(self) -> float:
        """Reopen the incidents the store has as firing; returns where to start reading the
        log so that their conditions are observed again."""
        await self.refresh(force=True)
        by_id = {rule.id: rule for rule in self.rules}
        start = self.clock() - 0.0
        for doc in await self.store.firing():
            rule = by_id.get(str(doc["rule"]["id"]))
            if rule is None:
                continue
            started = doc["started_at"].timestamp()
            self.book.restore(Incident(str(doc["_id"]), rule, doc["app"], doc["key"], started))
            span = max(float(v) for v in (*_spans(rule.params), 0.0))
            start = min(start, started - span - REPLAY_MARGIN)
        return start

    async def tick(self) -> list[Change]:
        await self.refresh()
        if not self.caught_up:
            return []
        now = self.clock()
        changes: list[Change] = []
        kept = {rule.id for rule in self.rules}
        self.book.forget_rules(kept)
        for rule in self.rules:
            for app, cluster in self.observations.clusters.items():
                if rule.watches(app, self.owners.get(app, DEFAULT_ORG)):
                    changes += self.book.step(rule, app, holding(rule, cluster, app, now), now)
        for change in changes:
            await self.record(change, now)
        return changes

    async def record(self, change: Change, now: float) -> None:
        incident = change.incident
        if change.kind == "opened":
            await self.store.open_incident(_incident_doc(incident, now))
            await publish_event(
                self.publisher, incident.app, INCIDENT_OPENED, f"{incident.id}.opened",
                _incident_event(incident),
            )  # fmt: skip
        elif change.kind == "resolved":
            await self.store.resolve_incident(incident.id, now)
            await publish_event(
                self.publisher, incident.app, INCIDENT_RESOLVED, f"{incident.id}.resolved",
                _incident_event(incident),
            )  # fmt: skip
        await self.store.add_deliveries(_deliveries(change, now))


def _spans(params: dict[str, Any]) -> list[float]:
    return [float(params[k]) for k in ("seconds", "window") if params.get(k) is not None]


def _incident_doc(incident: Incident, now: float) -> Doc:
    return {
        "_id": incident.id,
        "org": incident.rule.org,
        "app": incident.app,
        "rule": incident.rule.describe(),
        "key": incident.key,
        "state": "firing",
        "started_at": _at(incident.started_at),
        "opened_at": _at(now),
        "resolved_at": None,
        "channels": list(incident.rule.channels),
    }


def _incident_event(incident: Incident) -> dict[str, Any]:
    return {
        "id": incident.id,
        "org": incident.rule.org,
        "app": incident.app,
        "rule": incident.rule.describe(),
        "key": incident.key,
        "started_at": iso(incident.started_at),
        "resolved_at": iso(incident.resolved_at),
    }


def _deliveries(change: Change, now: float) -> list[Doc]:
    incident = change.incident
    return [
        {
            "_id": notification_id(incident.id, change.status, change.reminder, channel),
            "incident": incident.id,
            "org": incident.rule.org,
            "app": incident.app,
            "rule": incident.rule.describe(),
            "key": incident.key,
            "channel": channel,
            "status": change.status,
            "reminder": change.reminder,
            "state": "pending",
            "created": _at(now),
            "attempts": 0,
            "code": None,
            "error": None,
        }
        for channel in incident.rule.channels
    ]
