"""The ``workers`` read model, merged like tasks: latest event per type, fields derived.

Liveness uses the collector's receive time (``ce-received``), not the worker's clock, so
``alive_until`` compares with the reader's "now" without trusting worker clocks. Celery's
rule applies: a worker is gone once ``2 * freq`` seconds pass without a heartbeat, or at
once when its latest event is worker-offline, or when an inspection it did not answer is
more recent than its last heartbeat.

Own records follow the task rules: Celery's events win over a manual record, amendments
(latest ``at`` per field) win over both; a delete hides the worker until a later manual
record or a later worker-online (a restart) brings it back.

A record may declare ``status`` (online or offline, as the original API's POST and PATCH
do). A declaration holds until the worker says otherwise: it decides the status only while
it is more recent than the last sign of the worker (an event, or an inspection).
"""

from __future__ import annotations

import math
import uuid as uuidlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tasktrail_shared.fields import WORKER_REPORTED
from tasktrail_shared.states import WORKER_EVENT_TYPES
from tasktrail_shared.times import MAX_EPOCH

from tasktrail_projector.domain import latest
from tasktrail_projector.domain.events import Observed, to_datetime
from tasktrail_projector.domain.own_events import (
    DELETED,
    INSPECTED,
    RECORDED,
    UNREACHABLE,
    Amendment,
    OwnFacts,
    Record,
    standing,
)

ONLINE, HEARTBEAT, OFFLINE = "worker-online", "worker-heartbeat", "worker-offline"
REPORTED_FIELDS = WORKER_REPORTED
"""What a worker's events report about it (a record or an amendment may set them as well)."""
STATUS = "status"
INSPECTION = ("stats", "active", "reserved", "registered", "active_queues")
DEFAULT_FREQ = 2.0
"""Celery's default heartbeat interval, used when an event does not carry a usable one."""
MAX_FREQ = 24 * 3600.0


@dataclass(slots=True)
class WorkerChange:
    """What one batch brings to one worker document."""

    events: list[Observed] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)


def worker_id(app: str, hostname: str) -> str:
    """A stable id for the worker, the same on every rebuild of the read model."""
    return str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"tasktrail:{app}/{hostname}"))


def group(observed: Iterable[Observed], records: Iterable[Record] = ()) -> dict[str, WorkerChange]:
    """Worker events and records of a batch by hostname (the document id)."""
    changes: dict[str, WorkerChange] = defaultdict(WorkerChange)
    for item in observed:
        if item.type in WORKER_EVENT_TYPES:
            changes[item.hostname].events.append(item)
    for record in records:
        if record.target == "worker":
            changes[record.subject].records.append(record)
    return dict(changes)


def merge(
    doc: Mapping[str, Any] | None, hostname: str, change: WorkerChange
) -> dict[str, Any] | None:
    """The new document for ``hostname``, or ``None`` if ``change`` adds nothing to ``doc``."""
    events = latest.load(doc)
    own = OwnFacts.load(doc, "worker")
    changed = latest.fold(events, change.events)
    changed |= own.fold(change.records)
    if not changed and doc is not None:
        return None
    return render(hostname, events, own)


def heartbeat_interval(value: object) -> float:
    """The worker's heartbeat period, or Celery's default when it sent none we can trust."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return DEFAULT_FREQ
    return float(value) if math.isfinite(value) and 0 < value <= MAX_FREQ else DEFAULT_FREQ


def render(
    hostname: str,
    events: Mapping[str, Observed],
    own: OwnFacts,
) -> dict[str, Any]:
    """Derive the whole worker document from its latest event per type and its records."""
    records, amendments = own.records, own.amendments
    newest = latest.newest(events.values())
    beat = latest.newest([events.get(ONLINE), events.get(HEARTBEAT)])
    last_heartbeat = to_datetime(beat.received) if beat else None
    offline_at = to_datetime(newest.received) if newest and newest.type == OFFLINE else None
    alive_until: datetime | None = offline_at
    if offline_at is None and beat is not None and newest is not None:
        freq = heartbeat_interval(newest.event.get("freq"))
        alive_until = to_datetime(min(beat.received + 2 * freq, MAX_EPOCH))
    unreachable_at = _unreachable_at(records, beat)
    if unreachable_at is not None:
        alive_until = min(alive_until, unreachable_at) if alive_until else unreachable_at
    recorded = records.get(RECORDED)
    given: Mapping[str, Any] = recorded.data["fields"] if recorded else {}
    declaration = declared(records, amendments)
    if declaration is not None and declaration["at"] > _last_sign(events, records):
        alive_until = to_datetime(MAX_EPOCH if declaration["online"] else declaration["at"])
    app = newest.app if newest else _record_app(records, amendments)
    doc: dict[str, Any] = {
        "_id": hostname,
        "id": worker_id(app, hostname),
        "hostname": hostname,
        "name": hostname,
        "app": app,
    }
    for name in REPORTED_FIELDS:  # ``status`` is not one: it only moves ``alive_until``
        value = newest.event.get(name) if newest else None
        doc[name] = given.get(name) if value is None else value
        if name in amendments:
            doc[name] = amendments[name]["value"]
    inspected = records.get(INSPECTED)
    doc["last_heartbeat"] = last_heartbeat
    doc["offline_at"] = offline_at
    doc["alive_until"] = alive_until
    doc["unreachable_at"] = unreachable_at
    doc["event_time"] = to_datetime(newest.timestamp) if newest else None
    doc["inspected"] = (
        {"at": inspected.moment, **{k: inspected.data.get(k) for k in INSPECTION}}
        if inspected
        else None
    )
    doc["declared"] = declaration
    doc["deleted"] = _deleted(records, events.get(ONLINE))
    doc.update(latest.dump(events))
    doc.update(own.stored())
    return doc


def declared(
    records: Mapping[str, Record], amendments: Mapping[str, Amendment]
) -> dict[str, Any] | None:
    """The latest declared status, ``{"online", "at", "actor"}``, from a record or a patch."""
    candidates: list[tuple[tuple[float, str], dict[str, Any]]] = []
    recorded = records.get(RECORDED)
    if recorded is not None and isinstance(recorded.data["fields"].get(STATUS), bool):
        said = {"online": recorded.data["fields"][STATUS], "actor": recorded.actor}
        candidates.append((recorded.key(), {**said, "at": recorded.at}))
    amended = amendments.get(STATUS)
    if amended is not None and isinstance(amended["value"], bool):
        said = {"online": amended["value"], "actor": amended.get("actor")}
        candidates.append(((amended["at"], amended["id"]), {**said, "at": amended["at"]}))
    return max(candidates, key=lambda c: c[0])[1] if candidates else None


def _last_sign(events: Mapping[str, Observed], records: Mapping[str, Record]) -> float:
    """When the worker last showed what it is: an event received, or an inspection."""
    times = [o.received for o in events.values()]
    times += [r.at for name, r in records.items() if name in (INSPECTED, UNREACHABLE)]
    return max(times, default=0.0)


def _unreachable_at(records: Mapping[str, Record], beat: Observed | None) -> datetime | None:
    """When an unanswered inspection took the worker for gone, if nothing said otherwise since."""
    missed = standing(records, UNREACHABLE, INSPECTED)
    if missed is None or (beat is not None and beat.received >= missed.at):
        return None
    return missed.moment


def _record_app(records: Mapping[str, Record], amendments: Mapping[str, Amendment]) -> str:
    if records:
        return max(records.values(), key=Record.key).app
    apps = sorted(str(a.get("app") or "") for a in amendments.values())
    return apps[0] if apps else ""


def _deleted(records: Mapping[str, Record], online: Observed | None) -> bool:
    """Deleted unless a later manual record, or a later start of the worker, restored it."""
    deleted = standing(records, DELETED, RECORDED)
    return deleted is not None and not (online is not None and online.received > deleted.at)
