"""A rule as the notifier evaluates it, and which clusters it watches. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tasktrail_shared.alerts import RULE_PARAMS, RuleFilter


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    org: str
    name: str
    kind: str
    filter: RuleFilter
    params: dict[str, Any]
    channels: tuple[str, ...]
    app: str | None = None
    for_: float = 0.0
    renotify: float | None = None
    cooldown: float = 0.0

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Rule:
        """A stored rule (``alert_rules``); ``ValueError`` if it cannot be read."""
        kind = str(doc["kind"])
        if kind not in RULE_PARAMS:
            raise ValueError(f"rule kind {kind!r} is not evaluated")
        return cls(
            id=str(doc["_id"]),
            org=str(doc["org"]),
            name=str(doc["name"]),
            kind=kind,
            filter=RuleFilter.model_validate(doc.get("filter") or {}),
            params=RULE_PARAMS[kind].model_validate(doc.get("params") or {}).model_dump(),
            channels=tuple(str(c) for c in doc.get("channels") or ()),
            app=doc.get("app"),
            for_=float(doc.get("for") or 0),
            renotify=float(doc["renotify"]) if doc.get("renotify") else None,
            cooldown=float(doc.get("cooldown") or 0),
        )

    def watches(self, app: str, owner: str) -> bool:
        """Whether cluster ``app`` (owned by organisation ``owner``) is this rule's to watch.
        Scheduled jobs belong to the organisation that reports them, whichever cluster's log
        the sweep wrote their health into: ``schedule_missed`` picks its jobs by their own
        organisation."""
        mine = owner == self.org or self.kind == "schedule_missed"
        return mine and (self.app is None or self.app == app)

    def describe(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "kind": self.kind}
