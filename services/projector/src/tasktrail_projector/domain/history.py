"""Per-task history and audit trail (``task_events``): what each stream message said about
tasks, and every command, hand-made worker record, token, organisation and catalog change
(a refused secret key included), whether or not it names a task.

One document per stream message that concerns tasks or is an audited act: ``_id`` is the
envelope id, ``app`` the cluster it came from, ``uuids`` the tasks it concerns (none for,
say, a pool resize or a worker patch) and ``events`` its entries in message order (a Celery
``task.multi`` list holds several tasks' events; a command names several tasks; an entry
that names no task has ``uuid: None``). The same message
re-delivered or re-published writes the same key, and the insert of a duplicate is simply
ignored. Keying by message rather than by event or by task keeps the history at about one
insert per message instead of one per event: a ``task.multi`` of 24 events is one document.

Token and organisation changes belong to no cluster: their document has ``app: null`` and
the ``org`` they concern (``null`` for a root token), so that an organisation's callers see
their own organisation's changes and no other's. So does a refused catalog key (the
organisation the caller named); other catalog changes belong to the entry's cluster.

A task's history: ``find({"uuids": id}).sort("timestamp")``, keeping the entries whose
``uuid`` is ``id`` (index ``(uuids, timestamp)``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tasktrail_shared.states import TASK_EVENT_TYPES

from tasktrail_projector.domain.events import to_datetime
from tasktrail_projector.domain.messages import Decoded
from tasktrail_projector.domain.own_events import AMENDED, DELETED, RECORDED, Record

CREATED = "created"

AUDITED_WORKER_RECORDS = frozenset({RECORDED, AMENDED, DELETED})
"""Inspections are the control service's own observations, already audited as commands."""
ORG_LEVEL = frozenset({"token", "org", "catalog.key_refused"})
"""Records about an organisation rather than a cluster (by target, or target.kind): their
history document has no ``app`` but the ``org`` they concern."""
SUBJECT_NAMES = {
    ("token", CREATED): "name",
    ("token", "revoked"): "name",
    ("org", CREATED): "slug",
    ("org", "cluster_assigned"): "app",
}


def task_entries(decoded: Decoded, seq: int) -> list[dict[str, Any]]:
    """The history document of one message, if it concerns any task or is audited."""
    envelope = decoded.envelope
    entries: list[dict[str, Any]] = []
    if decoded.command is not None:
        received = to_datetime(envelope.received)
        named: list[str | None] = [*decoded.task_ids] or [None]
        for index, task_id in enumerate(named):
            entries.append(
                _entry(task_id, index, envelope.type, received, envelope.source, decoded.command)
            )
    for o in decoded.events:
        if o.type in TASK_EVENT_TYPES:
            entries.append(
                _entry(
                    str(o.event["uuid"]),
                    o.index,
                    o.type,
                    to_datetime(o.timestamp),
                    o.hostname,
                    o.event,
                )
            )
    entries += _record_entries(decoded)
    if not entries:
        return []
    where: dict[str, Any] = {"app": envelope.app}
    org_level = [r for r in decoded.records if is_org_level(r)]
    if org_level:  # one record per message: the organisation it concerns, no cluster
        where = {"app": None, "org": concerned_org(org_level[0])}
    return [
        {
            "_id": envelope.id,
            "uuids": sorted({e["uuid"] for e in entries if e["uuid"] is not None}),
            **where,
            "type": envelope.type,
            "timestamp": min(e["timestamp"] for e in entries),
            "seq": seq,
            "events": entries,
        }
    ]


def _record_entries(decoded: Decoded) -> list[dict[str, Any]]:
    envelope = decoded.envelope
    entries = []
    for index, r in enumerate(decoded.records):
        payload = {"at": r.at, "actor": r.actor, **r.data}
        if r.target == "task":
            entries.append(
                _entry(r.subject, index, envelope.type, r.moment, envelope.source, payload)
            )
        elif r.target == "worker" and r.kind in AUDITED_WORKER_RECORDS:
            entries.append(_entry(None, index, envelope.type, r.moment, r.subject, payload))
        elif r.target == "catalog":
            payload.setdefault("id", r.subject)
            entries.append(_entry(None, index, envelope.type, r.moment, envelope.source, payload))
        elif r.target in ORG_LEVEL:
            payload[SUBJECT_NAMES[r.target, r.kind]] = r.subject
            entries.append(_entry(None, index, envelope.type, r.moment, envelope.source, payload))
    return entries


def is_org_level(record: Record) -> bool:
    return record.target in ORG_LEVEL or f"{record.target}.{record.kind}" in ORG_LEVEL


def concerned_org(record: Record) -> str | None:
    """The organisation a token or organisation record concerns (``None``: a root token's),
    whose tokens alone see it in the audit history, with root tokens."""
    if record.target == "org" and record.kind == CREATED:
        return record.subject
    org = record.data.get("org")
    return org if isinstance(org, str) else None


def _entry(
    uuid: str | None,
    index: int,
    kind: str,
    timestamp: datetime,
    hostname: str,
    event: dict[str, Any],
) -> dict[str, Any]:
    return {
        "uuid": uuid,
        "index": index,
        "type": kind,
        "timestamp": timestamp,
        "hostname": hostname,
        "event": event,
    }
