"""Incidents: a rule's condition holding for one group key, from when it opens to when it
resolves, and the changes that each call for a notification.

An incident's id is a digest of its rule, cluster, key and the moment the condition began to
hold (from the events, not from a clock), so every notifier replica, and a restarted one,
names the same incident the same way; a notification's id adds what it says (firing,
reminder n, resolved) and the channel, so it is delivered once whoever delivers it. Pure.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from tasktrail_notifier.domain.conditions import Holding
from tasktrail_notifier.domain.rules import Rule

Ident = tuple[str, str, str]
"""(rule id, cluster, group key)."""
ChangeKind = Literal["opened", "reminder", "resolved"]


def digest(*parts: object) -> str:
    return hashlib.sha256("\x00".join(repr(p) for p in parts).encode()).hexdigest()[:32]


def incident_id(rule_id: str, app: str, key: str, since: float) -> str:
    return digest("incident", rule_id, app, key, round(since, 6))


def notification_id(incident: str, status: str, reminder: int, channel: str) -> str:
    return digest("notification", incident, status, reminder, channel)


@dataclass(slots=True)
class Incident:
    id: str
    rule: Rule
    app: str
    key: str
    started_at: float
    resolved_at: float | None = None
    reminders: int = 0

    @property
    def ident(self) -> Ident:
        return (self.rule.id, self.app, self.key)

    @property
    def status(self) -> str:
        return "firing" if self.resolved_at is None else "resolved"


@dataclass(frozen=True, slots=True)
class Change:
    kind: ChangeKind
    incident: Incident
    reminder: int = 0

    @property
    def status(self) -> str:
        return "resolved" if self.kind == "resolved" else "firing"


class Book:
    """The open incidents, and when each (rule, cluster, key) last resolved (for cooldowns)."""

    def __init__(self) -> None:
        self.open: dict[Ident, Incident] = {}
        self.last_resolved: dict[Ident, float] = {}

    def restore(self, incident: Incident) -> None:
        """An incident found open in the store at start-up: it resolves, with a
        notification, once its condition no longer holds."""
        self.open[incident.ident] = incident

    def step(self, rule: Rule, app: str, held: Holding, now: float) -> list[Change]:
        """The changes ``held`` (what ``rule`` holds for in cluster ``app`` at ``now``) makes."""
        changes: list[Change] = []
        for key, since in sorted(held.items()):
            current = self.open.get((rule.id, app, key))
            if current is None:
                opened = self._open(rule, app, key, since, now)
                if opened is not None:
                    changes.append(Change("opened", opened))
            elif rule.renotify:
                due = int((now - current.started_at - rule.for_) // rule.renotify)
                if due > current.reminders:
                    current.reminders = due
                    changes.append(Change("reminder", current, due))
        for ident, incident in list(self.open.items()):
            if ident[:2] == (rule.id, app) and ident[2] not in held:
                incident.resolved_at = now
                del self.open[ident]
                self.last_resolved[ident] = now
                changes.append(Change("resolved", incident))
        return changes

    def _open(self, rule: Rule, app: str, key: str, since: float, now: float) -> Incident | None:
        fire_at = since + rule.for_
        last = self.last_resolved.get((rule.id, app, key))
        if last is not None:
            fire_at = max(fire_at, last + rule.cooldown)
        if fire_at > now:
            return None
        incident = Incident(incident_id(rule.id, app, key, since), rule, app, key, since)
        self.open[incident.ident] = incident
        return incident

    def forget_rules(self, kept: set[str]) -> list[Incident]:
        """Drop the open incidents of rules that no longer exist; returns them."""
        gone = [i for ident, i in self.open.items() if ident[0] not in kept]
        for incident in gone:
            del self.open[incident.ident]
        return gone
