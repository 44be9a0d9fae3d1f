"""The ``tasks`` read model: an order-insensitive merge of everything said about one task.

A document keeps the latest Celery event of each type (``_events``/``_src``), the latest own
record of each kind (``_records``), the latest amendment of each field (``_amend``), the set
of its children and the set of stats slots it may count in (``_slots``). Every public field is
derived from those alone, so merging is a union of sets followed by a pure function: any
order, duplication or batching gives the same document, and a merge that brings nothing new
reports "no change" (``None``), which lets the service skip the write.

Which source wins a field: an amendment (latest ``at``), else what Celery's events say, else
what reconciliation found (only while no worker event reported a final state), else what a
manual record gave. ``lost`` is the one field not derived here: the liveness sweep sets it
from the worker's document and the clock, and a merge keeps it only while the task is still
unfinished on the same worker process.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tasktrail_shared.fields import SEED_LABELS, TASK_SETTABLE
from tasktrail_shared.states import (
    FAILURE,
    ON_WORKER,
    PENDING,
    RANK,
    READY_STATES,
    RECEIVED,
    REJECTED,
    RETRY,
    REVOKED,
    STARTED,
    SUCCESS,
    TASK_EVENT_STATE,
    TASK_EVENT_TYPES,
)

from tasktrail_projector.domain import latest
from tasktrail_projector.domain.events import Observed, to_datetime
from tasktrail_projector.domain.labels import Rule, extract
from tasktrail_projector.domain.own_events import (
    DELETED,
    RECONCILED,
    RECORDED,
    Amendment,
    OwnFacts,
    Record,
    record_times,
    standing,
)

SENT, RECEIVED_, STARTED_ = "task-sent", "task-received", "task-started"
SUCCEEDED, FAILED, RETRIED = "task-succeeded", "task-failed", "task-retried"
REVOKED_, REJECTED_ = "task-revoked", "task-rejected"

LIFECYCLE = {
    SENT: "sent",
    RECEIVED_: "received",
    STARTED_: "started",
    SUCCEEDED: "succeeded",
    FAILED: "failed",
    RETRIED: "retried",
    REVOKED_: "revoked",
    REJECTED_: "rejected",
}
STATE_TIME = {
    PENDING: "sent",
    RECEIVED: "received",
    STARTED: "started",
    SUCCESS: "succeeded",
    FAILURE: "failed",
    RETRY: "retried",
    REVOKED: "revoked",
    REJECTED: "rejected",
}
"""The lifecycle time field that says when a task entered each state."""
CALL_FIELDS = ("name", "args", "kwargs", "retries", "eta", "expires", "root_id", "parent_id")
ROUTING_FIELDS = ("queue", "exchange", "routing_key")
OUTCOME_FIELDS = ("worker", "result", "runtime", "exception", "traceback")
RESOLVED = (*CALL_FIELDS, *ROUTING_FIELDS, *OUTCOME_FIELDS, *LIFECYCLE.values())
"""Fields every source may give, resolved field by field (see the module docstring)."""
WORKER_SIDE = (RECEIVED_, STARTED_, SUCCEEDED, FAILED, RETRIED, REJECTED_, REVOKED_)
"""Events a worker emits, most telling first; task-sent's hostname is the client."""
AFTER_RETRY = (RECEIVED_, STARTED_, REJECTED_, SENT)
RECONCILE_FILLS = ("name", "args", "kwargs", "worker", "retries")
SLOT_SECONDS = 2
"""Stats are recomputed per 2-second slot (see ``stats``)."""


@dataclass(slots=True)
class TaskChange:
    """What one batch brings to one task document."""

    events: list[Observed] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    children: dict[str, str] = field(default_factory=dict)
    """child uuid -> app of the event that named this task as parent."""
    linked: set[datetime] = field(default_factory=set)
    """The slots of the events that named this task as parent: a task known only as a parent
    has these as its slots, so that it has a home to be counted in (see ``counts``)."""


@dataclass(slots=True)
class TaskFacts:
    """The sets a task document is derived from."""

    events: dict[str, Observed]
    own: OwnFacts
    children: set[str]
    child_app: str | None
    slots: set[datetime]
    """Every slot the task ever had a lifecycle time in (grow-only: a union over events)."""


def group(observed: Iterable[Observed], records: Iterable[Record] = ()) -> dict[str, TaskChange]:
    """Group a batch by the documents it touches (each task, and the parent it names)."""
    changes: dict[str, TaskChange] = defaultdict(TaskChange)
    for item in observed:
        if item.type not in TASK_EVENT_TYPES:
            continue
        uuid = str(item.event["uuid"])
        changes[uuid].events.append(item)
        moment = to_datetime(item.timestamp)
        _link(changes, uuid, item.event.get("parent_id"), item.app, moment)
    for record in records:
        if record.target != "task":
            continue
        changes[record.subject].records.append(record)
        if record.kind == RECORDED:
            parent = record.data["fields"].get("parent_id")
            _link(changes, record.subject, parent, record.app, record.moment)
    return dict(changes)


def _link(
    changes: dict[str, TaskChange], uuid: str, parent: object, app: str, moment: datetime
) -> None:
    if isinstance(parent, str) and parent and parent != uuid:  # a retry names itself
        changes[parent].children[uuid] = app
        changes[parent].linked.add(slot_start(moment))


def slot_start(moment: datetime) -> datetime:
    """The start of the 2-second stats slot ``moment`` falls in."""
    return moment.replace(second=moment.second // SLOT_SECONDS * SLOT_SECONDS, microsecond=0)


def slots_of(change: TaskChange) -> set[datetime]:
    """Every slot this change has a lifecycle time in (where the task may count in stats),
    plus the slots of its records and of the events that name it as parent: so every task
    document has at least one slot, the least of which is its home (see ``counts``)."""
    found = {slot_start(to_datetime(o.timestamp)) for o in change.events if o.type in LIFECYCLE}
    found.update(slot_start(t) for r in change.records for t in record_times(r))
    found.update(slot_start(r.moment) for r in change.records)
    return found | change.linked


def merge(
    doc: Mapping[str, Any] | None,
    uuid: str,
    change: TaskChange,
    rules: Sequence[Rule] = (),
) -> dict[str, Any] | None:
    """The new document for ``uuid``, or ``None`` if ``change`` adds nothing to ``doc``."""
    held = doc or {}
    facts = TaskFacts(
        events=latest.load(doc),
        own=OwnFacts.load(doc, "task"),
        children=set(held.get("children") or []),
        child_app=held.get("_child_app"),
        slots=set(held.get("_slots") or []),
    )
    changed = latest.fold(facts.events, change.events)
    changed |= facts.own.fold(change.records)
    if not facts.children.issuperset(change.children):
        facts.children.update(change.children)
        changed = True
    child_app = _min_app(facts.child_app, *change.children.values())
    if child_app != facts.child_app:
        facts.child_app, changed = child_app, True
    new_slots = slots_of(change)
    if not facts.slots.issuperset(new_slots):
        facts.slots |= new_slots
        changed = True
    if not changed and doc is not None:
        return None
    return render(uuid, facts, rules, previous=doc)


def _min_app(*apps: object) -> str | None:
    """The app a parent known only from its children is shown under: the least, so it's stable."""
    named = [a for a in apps if isinstance(a, str) and a]
    return min(named) if named else None


def render(
    uuid: str,
    facts: TaskFacts,
    rules: Sequence[Rule] = (),
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Derive the whole document from its facts (``previous`` only lends ``lost``)."""
    fields, state, when, pid = _from_events(facts.events)
    reported = state
    recorded = facts.own.records.get(RECORDED)
    given: Mapping[str, Any] = recorded.data["fields"] if recorded else {}
    for name in RESOLVED:
        if fields[name] is None and given.get(name) is not None:
            fields[name] = given[name]
    if state is None and recorded is not None:  # no worker event: the manual record decides
        if given.get("state"):
            state = given["state"]
            when = fields[STATE_TIME[given["state"]]] or recorded.moment
        when = given.get("timestamp") or when
    reconciled = facts.own.records.get(RECONCILED)
    if reconciled is not None and _reconcile(fields, reconciled, reported):
        state = reconciled.data["state"]
        when = fields[STATE_TIME[state]]
    for name, amendment in facts.own.amendments.items():
        if name in RESOLVED:
            fields[name] = amendment["value"]
    amended_state = facts.own.amendments.get("state")
    if amended_state is not None and amended_state["value"]:
        state = amended_state["value"]
        when = fields[STATE_TIME[state]] or to_datetime(amended_state["at"])
    if "timestamp" in facts.own.amendments:
        when = facts.own.amendments["timestamp"]["value"]
    state = state or PENDING
    labels = _labels(rules, fields, given, facts.own.amendments)
    worker, kids = fields["worker"], sorted(facts.children)
    lost = bool(
        previous
        and previous.get("lost")
        and state in ON_WORKER
        and previous.get("worker") == worker
        and previous.get("worker_pid") == pid
    )
    revoked = facts.events.get(REVOKED_)
    doc: dict[str, Any] = {
        "_id": uuid,
        "uuid": uuid,
        "app": _app(facts),
        **fields,
        "state": state,
        "timestamp": when,
        "finished": when if state in READY_STATES else None,
        "worker_pid": pid,
        "revoke": (
            {k: revoked.event.get(k) for k in ("terminated", "signum", "expired")}
            if revoked
            else None
        ),
        "children": kids,
        "labels": labels,
        **{name: labels.get(name) for name in SEED_LABELS},
        "published": isinstance(fields["sent"], datetime),
        "deleted": _deleted(facts.own.records),
        "lost": lost,
        "_slots": sorted(facts.slots),
        **latest.dump(facts.events),
        **facts.own.stored(),
        "_child_app": facts.child_app,
    }
    return doc


def _from_events(
    events: Mapping[str, Observed],
) -> tuple[dict[str, Any], str | None, datetime | None, int | None]:
    """Fields, state, state time and worker pid as Celery's events tell them."""
    fields: dict[str, Any] = dict.fromkeys(RESOLVED)
    if not events:
        return fields, None, None, None
    state, decider = derive_state(events)
    call, sent = events.get(RECEIVED_), events.get(SENT)
    for name in CALL_FIELDS:
        fields[name] = _pick(name, call, sent)
    for name in ROUTING_FIELDS:
        fields[name] = sent.event.get(name) if sent else None
    on_worker = next((events[k] for k in WORKER_SIDE if k in events), None)
    fields["worker"] = on_worker.hostname if on_worker else None
    succeeded, failure = events.get(SUCCEEDED), events.get(FAILED) or events.get(RETRIED)
    fields["result"] = succeeded.event.get("result") if succeeded else None
    fields["runtime"] = succeeded.event.get("runtime") if succeeded else None
    fields["exception"] = failure.event.get("exception") if failure else None
    fields["traceback"] = failure.event.get("traceback") if failure else None
    for kind, name in LIFECYCLE.items():
        fields[name] = to_datetime(events[kind].timestamp) if kind in events else None
    pid = on_worker.event.get("pid") if on_worker else None
    pid = pid if isinstance(pid, int) and not isinstance(pid, bool) else None
    return fields, state, to_datetime(decider.timestamp) if decider else None, pid


def _reconcile(fields: dict[str, Any], record: Record, reported: str | None) -> bool:
    """Fill the final state the backend knows, unless a worker event reported one."""
    state = record.data["state"]
    if state not in READY_STATES or reported in READY_STATES:
        return False
    done = STATE_TIME[state]
    fields[done] = fields[done] or record.data["date_done"] or record.moment
    result = record.data["result"]
    if state == SUCCESS:
        fields["result"] = repr(result)
    elif state == FAILURE:
        fields["exception"] = result if isinstance(result, str) else repr(result)
        fields["traceback"] = record.data["traceback"]
    for name in RECONCILE_FILLS:
        if fields[name] is None:
            fields[name] = record.data[name]
    return True


def _labels(
    rules: Sequence[Rule],
    fields: Mapping[str, Any],
    given: Mapping[str, Any],
    amendments: Mapping[str, Amendment],
) -> dict[str, Any]:
    """Rule-derived labels; a record's extra fields fill gaps, amendments override."""
    labels = extract(rules, fields["name"], fields["args"], fields["kwargs"])
    for name, value in given.items():
        if name not in TASK_SETTABLE and name not in labels and value is not None:
            labels[name] = value
    for name, amendment in amendments.items():
        if name in TASK_SETTABLE:
            continue
        if amendment["value"] is None:
            labels.pop(name, None)
        else:
            labels[name] = amendment["value"]
    return dict(sorted(labels.items()))


def _app(facts: TaskFacts) -> str | None:
    newest = latest.newest(facts.events.values())
    if newest is not None:
        return newest.app
    if facts.own.records:
        return max(facts.own.records.values(), key=Record.key).app
    apps = [a["app"] for a in facts.own.amendments.values() if a.get("app")]
    return min(apps) if apps else facts.child_app


def _deleted(records: Mapping[str, Record]) -> bool:
    """Deleted unless a manual record restored it afterwards."""
    return standing(records, DELETED, RECORDED) is not None


def _pick(name: str, primary: Observed | None, fallback: Observed | None) -> Any:
    for source in (primary, fallback):
        if source is not None and name in source.event:
            return source.event[name]
    return None


def derive_state(events: Mapping[str, Observed]) -> tuple[str, Observed | None]:
    """Celery's state for the latest event per type, and the event that set it.

    A finished task stays finished; a revoke beats anything unfinished; a retry is
    superseded only by what the worker did after it (received/started/rejected, or a
    re-send), ranked by Celery's precedence.
    """
    done = latest.newest([events.get(SUCCEEDED), events.get(FAILED)])
    if done is not None:
        return (SUCCESS if done.type == SUCCEEDED else FAILURE), done
    if REVOKED_ in events:
        return REVOKED, events[REVOKED_]
    retried = events.get(RETRIED)
    after = [
        events[kind]
        for kind in AFTER_RETRY
        if kind in events and (retried is None or events[kind].timestamp > retried.timestamp)
    ]
    if after:
        best = max(after, key=lambda o: (RANK[TASK_EVENT_STATE[o.type]], o.key()))
        return TASK_EVENT_STATE[best.type], best
    if retried is not None:
        return RETRY, retried
    return PENDING, None
