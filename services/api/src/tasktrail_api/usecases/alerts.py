"""Alerts: channels, rules and silences (admins manage, viewers read), incidents and their
deliveries (written by the notifier, read here), and "send test".

Configuration is stored directly (``tasktrail_shared.alerts``: it holds secrets that must not
be copied into the log), and each change is also published to the log with its secrets
masked, for audit, as tokens are. Every object belongs to one organisation: the caller's (a
root token may name one); another organisation's answers 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import ValidationError
from tasktrail_shared import alerts
from tasktrail_shared.alerts import RuleSpec, TestOutcome
from tasktrail_shared.own_events import DEFAULT_ORG

from tasktrail_api.domain.errors import BadRequest, NotFound, Unavailable
from tasktrail_api.domain.principals import Principal
from tasktrail_api.domain.serializers import plain
from tasktrail_api.usecases.ports import Clock, EventPublisher

Doc = dict[str, Any]
MAX_LIST = 1000


class AlertStore(Protocol):
    async def insert(self, collection: str, doc: Doc) -> None: ...
    async def get(self, collection: str, object_id: str) -> Doc | None: ...
    async def find(self, collection: str, query: Doc, limit: int, newest_first: bool) -> list[Doc]:
        """Up to ``limit`` matching documents, by creation (``created`` or ``started_at``)."""
        ...

    async def delete(self, collection: str, object_id: str) -> bool: ...
    async def update(self, collection: str, object_id: str, fields: Doc) -> bool: ...


class ChannelTester(Protocol):
    async def test(self, channel_id: str) -> TestOutcome:
        """Ask a notifier to send a synthetic incident through the channel."""
        ...


def _plain(doc: Doc) -> Doc:
    """As JSON: times as ISO 8601 strings."""
    shown: Doc = plain(doc)
    return shown


def _error(exc: ValidationError, prefix: str) -> BadRequest:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in (prefix, *first["loc"]) if p != "")
    return BadRequest(f"{where}: {first['msg']}")


def show_channel(doc: Doc) -> Doc:
    return _plain(_show_channel(doc))


def _show_channel(doc: Doc) -> Doc:
    return {
        "id": doc["_id"],
        "org": doc["org"],
        "name": doc["name"],
        "type": doc["type"],
        "config": alerts.masked(doc["type"], doc.get("config") or {}),
        "disabled": doc.get("disabled"),
        "created": doc.get("created"),
        "created_by": doc.get("created_by"),
    }


def show_rule(doc: Doc) -> Doc:
    return _plain(_show_rule(doc))


def _show_rule(doc: Doc) -> Doc:
    fields = ("name", "kind", "filter", "params", "channels", "app", "for", "renotify")
    return {
        "id": doc["_id"],
        "org": doc["org"],
        **{name: doc.get(name) for name in fields},
        "cooldown": doc.get("cooldown", 0),
        "created": doc.get("created"),
        "created_by": doc.get("created_by"),
    }


def show_silence(doc: Doc) -> Doc:
    return _plain(_show_silence(doc))


def _show_silence(doc: Doc) -> Doc:
    keys = ("org", "rule", "key", "until", "comment", "created", "created_by")
    return {"id": doc["_id"], **{k: doc.get(k) for k in keys}}


def show_incident(doc: Doc) -> Doc:
    return _plain(_show_incident(doc))


def _show_incident(doc: Doc) -> Doc:
    keys = ("org", "app", "rule", "key", "state", "started_at", "opened_at", "resolved_at")
    return {"id": doc["_id"], **{k: doc.get(k) for k in keys}}


def show_delivery(doc: Doc) -> Doc:
    return _plain(_show_delivery(doc))


def _show_delivery(doc: Doc) -> Doc:
    keys = ("channel", "status", "reminder", "state", "attempts", "code", "error", "created")
    return {"id": doc["_id"], **{k: doc.get(k) for k in keys}, "done_at": doc.get("done_at")}


@dataclass(frozen=True, slots=True)
class AlertKind:
    """One kind of alert object: where it is kept, how it is shown, and the events that audit
    its creation and deletion (none for what only the notifier writes)."""

    collection: str
    noun: str
    show: Callable[[Doc], Doc]
    created: str = ""
    deleted: str = ""


CHANNEL = AlertKind(
    alerts.ALERT_CHANNELS, "channel", show_channel, alerts.CHANNEL_CREATED, alerts.CHANNEL_DELETED
)
RULE = AlertKind(alerts.ALERT_RULES, "rule", show_rule, alerts.RULE_CREATED, alerts.RULE_DELETED)
SILENCE = AlertKind(
    alerts.ALERT_SILENCES, "silence", show_silence, alerts.SILENCE_CREATED, alerts.SILENCE_DELETED
)
INCIDENT = AlertKind(alerts.ALERT_INCIDENTS, "incident", show_incident)


class Alerts:
    def __init__(
        self,
        store: AlertStore | None,
        publisher: EventPublisher | None,
        clock: Clock,
        tester: ChannelTester | None,
    ) -> None:
        self._kept = store
        """``None`` where no store is wired (unit tests of other use cases)."""
        self._publisher, self._clock, self._tester = publisher, clock, tester

    @property
    def _store(self) -> AlertStore:
        if self._kept is None:
            raise Unavailable("alerts are not configured here")
        return self._kept

    # --- who owns what ------------------------------------------------------------------

    @staticmethod
    def org_for(caller: Principal, requested: str | None) -> str:
        """Where a new object goes: the caller's organisation; a root token may name one."""
        if caller.is_root:
            return requested or DEFAULT_ORG
        if requested not in (None, caller.org):
            raise NotFound.named("organisation")
        return str(caller.org)

    @staticmethod
    def _visible(caller: Principal, query: Doc) -> Doc:
        return query if caller.is_root else {**query, "org": caller.org}

    async def _owned(self, kind: AlertKind, object_id: str, caller: Principal) -> Doc:
        doc = await self._store.get(kind.collection, object_id)
        if doc is None or not (caller.is_root or doc.get("org") == caller.org):
            raise NotFound.named(kind.noun)
        return doc

    async def _audit(self, event_type: str, payload: Doc) -> None:
        if self._publisher is None:
            raise Unavailable("alert changes are audited, and no event log is open")
        await self._publisher.publish(event_type, payload)

    def _new(self, caller: Principal, org: str) -> Doc:
        return {
            "_id": uuid.uuid4().hex[:16],
            "org": org,
            "created": self._clock.now(),
            "created_by": caller.name,
        }

    async def _inserted(self, kind: AlertKind, doc: Doc, **audited: Any) -> Doc:
        """Store ``doc`` and audit it as shown (with ``audited`` on top); answer it as shown."""
        await self._store.insert(kind.collection, doc)
        shown = kind.show(doc)
        await self._audit(kind.created, {**shown, **audited, "at": doc["created"].timestamp()})
        return shown

    async def _found(
        self, kind: AlertKind, caller: Principal, query: Doc, newest_first: bool, limit: int
    ) -> list[Doc]:
        docs = await self._store.find(
            kind.collection, self._visible(caller, query), limit, newest_first
        )
        return [kind.show(doc) for doc in docs]

    # --- any kind the caller's organisation owns ----------------------------------------

    async def listed(self, kind: AlertKind, caller: Principal) -> list[Doc]:
        """Every object of ``kind`` the caller may see, oldest first."""
        return await self._found(kind, caller, {}, False, MAX_LIST)

    async def get(self, kind: AlertKind, object_id: str, caller: Principal) -> Doc:
        return kind.show(await self._owned(kind, object_id, caller))

    async def delete(self, kind: AlertKind, object_id: str, caller: Principal) -> None:
        doc = await self._owned(kind, object_id, caller)
        await self._store.delete(kind.collection, object_id)
        at = self._clock.now().timestamp()
        await self._audit(kind.deleted, {"id": object_id, "org": doc["org"], "at": at})

    # --- channels ---------------------------------------------------------------------------

    async def create_channel(
        self, name: str, channel_type: str, config: Any, caller: Principal, org: str | None
    ) -> Doc:
        try:
            stored = alerts.channel_config(channel_type, config)
        except ValidationError as exc:
            raise _error(exc, "config") from None
        except ValueError as exc:
            raise BadRequest.field("type", str(exc)) from None
        doc = {
            **self._new(caller, self.org_for(caller, org)),
            "name": name, "type": channel_type, "config": stored, "disabled": None,
        }  # fmt: skip
        return await self._inserted(CHANNEL, doc)

    async def enable_channel(self, channel_id: str, caller: Principal) -> Doc:
        """Clear a channel disabled after a permanent error (once its settings are fixed)."""
        await self._owned(CHANNEL, channel_id, caller)
        await self._store.update(alerts.ALERT_CHANNELS, channel_id, {"disabled": None})
        return await self.get(CHANNEL, channel_id, caller)

    async def test_channel(self, channel_id: str, caller: Principal) -> TestOutcome:
        await self._owned(CHANNEL, channel_id, caller)
        if self._tester is None:
            raise Unavailable("no notifier is reachable")
        return await self._tester.test(channel_id)

    # --- rules ------------------------------------------------------------------------------

    async def create_rule(self, spec: RuleSpec, caller: Principal, org: str | None) -> Doc:
        try:
            params = spec.checked_params()
        except ValidationError as exc:
            raise _error(exc, "params") from None
        owner = self.org_for(caller, org)
        for channel_id in spec.channels:
            found = await self._store.get(alerts.ALERT_CHANNELS, channel_id)
            if found is None or found.get("org") != owner:
                raise NotFound.named("channel")  # another organisation's does not exist
        doc = {
            **self._new(caller, owner),
            **spec.model_dump(mode="json", by_alias=True),
            "params": params,
        }
        return await self._inserted(RULE, doc)

    # --- silences ---------------------------------------------------------------------------

    async def create_silence(
        self,
        rule_id: str | None,
        key: str | None,
        until: datetime,
        comment: str | None,
        caller: Principal,
        org: str | None,
    ) -> Doc:
        if rule_id is None and key is None:
            raise BadRequest.field("rule", "a silence names a rule, a key, or both")
        owner = self.org_for(caller, org)
        if rule_id is not None:
            found = await self._store.get(alerts.ALERT_RULES, rule_id)
            if found is None or found.get("org") != owner:
                raise NotFound.named("rule")
        doc = {
            **self._new(caller, owner),
            "rule": rule_id, "key": key, "until": until, "comment": comment,
        }  # fmt: skip
        return await self._inserted(SILENCE, doc, until=until.isoformat())

    async def silences(self, caller: Principal) -> list[Doc]:
        """Silences in force, and those that ended within the last day, newest first."""
        ended = {"until": {"$gt": self._clock.now() - timedelta(days=1)}}
        return await self._found(SILENCE, caller, ended, True, MAX_LIST)

    # --- incidents --------------------------------------------------------------------------

    async def incidents(
        self,
        caller: Principal,
        *,
        state: str | None,
        rule: str | None,
        after: datetime | None,
        before: datetime | None,
        limit: int,
    ) -> list[Doc]:
        query: Doc = {}
        if state is not None:
            query["state"] = state
        if rule is not None:
            query["rule.id"] = rule
        started = {k: v for k, v in (("$gte", after), ("$lt", before)) if v is not None}
        if started:
            query["started_at"] = started
        return await self._found(INCIDENT, caller, query, True, limit)

    async def incident(self, incident_id: str, caller: Principal) -> Doc:
        doc = await self._owned(INCIDENT, incident_id, caller)
        deliveries = await self._store.find(
            alerts.ALERT_DELIVERIES, {"incident": incident_id}, MAX_LIST, False
        )
        return {**show_incident(doc), "deliveries": [show_delivery(d) for d in deliveries]}
