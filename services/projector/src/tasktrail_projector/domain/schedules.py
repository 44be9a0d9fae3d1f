"""The ``schedulers``, ``schedule_jobs`` and ``schedule_runs`` read models, folded from
``tasktrail.schedule.*`` events (``tasktrail_shared.schedules``).

Like a task, a scheduler or job document keeps, under ``_latest``, the latest event of each
kind that matters to it (latest by ``(time, event id)``; for "when last heard from", by the
log's receive time), and derives every public field from that map; so any order and any
duplication of the events give the same document. A run is one document per event that is a
run (``submitted``, ``executed``, ``error``, ``missed``, ``max_instances``), keyed by the
event's id, so a duplicate is the same document; a job's ``counts`` are counted from its
runs after they are stored (``count_runs`` in the store), never incremented.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from tasktrail_shared import schedules as contract
from tasktrail_shared.schedules import (
    ALL_JOBS_REMOVED,
    EVENT_CODES,
    JOB_ADDED,
    JOB_MODIFIED,
    JOB_REMOVED,
    RUN_CODES,
    SCHEDULER_CODES,
    job_key,
    scheduler_key,
)

from tasktrail_projector.domain.events import to_datetime

Doc = dict[str, Any]
STATE_OF = {
    contract.STARTED: "running",
    contract.RESUMED: "running",
    contract.PAUSED: "paused",
    contract.SHUTDOWN: "shutdown",
}
OUTCOMES = ("executed", "error", "missed", "max_instances")
"""Run kinds that end a run (or stand for one that never started)."""
MEMBERSHIP = {JOB_ADDED: "added", JOB_MODIFIED: "modified", JOB_REMOVED: "removed"}
CARRIED = ("jobstore", "task")
"""Job fields taken from the latest event that carries them."""
EMPTY_COUNTS = dict.fromkeys(RUN_CODES.values(), 0)


class InvalidFact(ValueError):
    """A schedule event's payload breaks its contract."""


@dataclass(frozen=True, slots=True)
class Fact:
    """One schedule event as the folds read it."""

    type: str
    id: str
    received: float
    """When the log took it in (the producer's receive time): "last heard from"."""
    data: dict[str, Any]

    @property
    def time(self) -> float:
        """What orders it among events of its kind: a report's ``time``, else ``at``."""
        return float(self.data["time"] if self.type == contract.REPORTED else self.data["at"])

    def key(self) -> tuple[float, str]:
        return (self.time, self.id)

    @property
    def code(self) -> int:
        return int(self.data.get("code", 0))

    def stored(self) -> Doc:
        return {"id": self.id, "time": self.time, "received": self.received, "data": self.data}

    @classmethod
    def from_stored(cls, event_type: str, doc: Mapping[str, Any]) -> Fact:
        return cls(event_type, str(doc["id"]), float(doc["received"]), dict(doc["data"]))


def decode_fact(event_type: str, payload: Any, event_id: str, received: float) -> Fact:
    """Validate a schedule event against the shared contract."""
    try:
        parsed = contract.PAYLOADS[event_type].model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        raise InvalidFact(f"{event_type}: {where}: {first['msg']}") from exc
    return Fact(event_type, event_id, received, parsed.model_dump(exclude_none=True))


@dataclass(slots=True)
class Batch:
    """A batch's schedule events by the document each concerns."""

    schedulers: dict[str, list[Fact]] = field(default_factory=lambda: defaultdict(list))
    jobs: dict[str, list[Fact]] = field(default_factory=lambda: defaultdict(list))
    runs: list[Doc] = field(default_factory=list)
    cleared: dict[str, list[Fact]] = field(default_factory=lambda: defaultdict(list))
    """``all jobs removed`` events by scheduler: every job of it is concerned."""
    counted: set[str] = field(default_factory=set)
    """Jobs whose runs changed: their counts are counted again."""


def group(facts: Iterable[Fact]) -> Batch:
    batch = Batch()
    for fact in facts:
        data = fact.data
        sched = scheduler_key(data["org"], data["alias"])
        if fact.type in (contract.REPORTED, contract.SCHEDULER_SILENT):
            batch.schedulers[sched].append(fact)
        if fact.type == contract.REPORTED and fact.code == ALL_JOBS_REMOVED:
            batch.cleared[sched].append(fact)
        if "job_id" not in data:
            continue
        job = job_key(data["org"], data["alias"], data["job_id"])
        batch.jobs[job].append(fact)
        if fact.type == contract.REPORTED and fact.code in RUN_CODES:
            batch.runs.append(run_doc(fact, job))
            batch.counted.add(job)
    return batch


def run_doc(fact: Fact, job: str) -> Doc:
    data = fact.data
    doc: Doc = {
        "_id": fact.id,
        "org": data["org"],
        "alias": data["alias"],
        "job": job,
        "job_id": data["job_id"],
        "kind": RUN_CODES[fact.code],
        "time": to_datetime(fact.time),
        "received": to_datetime(fact.received),
        "via": data.get("via", "report"),
    }
    for name in ("exception", "traceback", "return_value", "celery_task_id"):
        if name in data:
            doc[name] = data[name]
    if "scheduled_run_time" in data:
        doc["scheduled_run_time"] = to_datetime(data["scheduled_run_time"])
    return doc


def _load(doc: Mapping[str, Any] | None) -> dict[str, Fact]:
    held = (doc or {}).get("_latest") or {}
    return {
        name: Fact.from_stored(str(kept.get("type", contract.REPORTED)), kept)
        for name, kept in held.items()
        if isinstance(kept, Mapping)
    }


def _dump(latest: Mapping[str, Fact]) -> Doc:
    return {name: {**latest[name].stored(), "type": latest[name].type} for name in sorted(latest)}


def _keep(latest: dict[str, Fact], name: str, fact: Fact) -> None:
    held = latest.get(name)
    if held is None or fact.key() > held.key():
        latest[name] = fact


def _keep_seen(latest: dict[str, Fact], fact: Fact) -> None:
    """``seen``: the report the log received last (ties by id)."""
    held = latest.get("seen")
    if held is None or (fact.received, fact.id) > (held.received, held.id):
        latest["seen"] = fact


def _unchanged(old: Mapping[str, Any] | None, new: Doc) -> bool:
    return old is not None and {k: v for k, v in old.items() if k != "_v"} == new


# --- schedulers ----------------------------------------------------------------------------


def _scheduler_kinds(fact: Fact) -> list[str]:
    if fact.type == contract.SCHEDULER_SILENT:
        return ["silent"]
    if fact.data.get("via", "report") != "report":
        return []  # an outcome the sweep took from a Celery task: the scheduler said nothing
    kinds = ["last"]
    if fact.code in SCHEDULER_CODES:
        kinds.append("lifecycle")
    return kinds


def merge_scheduler(old: Mapping[str, Any] | None, key: str, facts: list[Fact]) -> Doc | None:
    latest = _load(old)
    for fact in facts:
        for kind in _scheduler_kinds(fact):
            _keep(latest, kind, fact)
        if "last" in _scheduler_kinds(fact):
            _keep_seen(latest, fact)
    new = scheduler_doc(key, latest)
    return None if _unchanged(old, new) else new


def scheduler_doc(key: str, latest: Mapping[str, Fact]) -> Doc:
    any_fact = next(iter(latest.values()))
    org, alias = any_fact.data["org"], any_fact.data["alias"]
    lifecycle = latest.get("lifecycle")
    seen = latest.get("seen")
    last = latest.get("last")
    silent = latest.get("silent")
    state = STATE_OF[lifecycle.code] if lifecycle else "running"
    last_seen = seen.received if seen else None
    if silent and state == "running" and (last_seen is None or silent.time > last_seen):
        state = "unresponsive"
    return {
        "_id": key,
        "org": org,
        "alias": alias,
        "state": state,
        "state_since": to_datetime(lifecycle.time) if lifecycle else None,
        "silent_since": to_datetime(silent.time) if state == "unresponsive" and silent else None,
        "last_event": _last_event(last),
        "last_seen": to_datetime(last_seen) if last_seen is not None else None,
        "_latest": _dump(latest),
    }


def _last_event(fact: Fact | None) -> Doc | None:
    if fact is None:
        return None
    return {"code": fact.code, "event": EVENT_CODES[fact.code], "time": to_datetime(fact.time)}


# --- jobs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class JobChange:
    facts: list[Fact]
    counts: dict[str, int] | None = None
    """The job's run counts as stored now (``None``: its runs did not change)."""


def _job_kinds(fact: Fact) -> list[str]:
    if fact.type == contract.JOB_CONFIGURED:
        return ["configured"]
    if fact.type == contract.JOB_HEALTH:
        return ["health"]
    if fact.type != contract.REPORTED:
        return []
    code, data = fact.code, fact.data
    kinds = [MEMBERSHIP.get(code) or RUN_CODES.get(code) or ""]
    if code == ALL_JOBS_REMOVED:
        kinds = ["cleared"]
    if data.get("has_next"):
        kinds.append("next")
    kinds += [f"carries_{name}" for name in CARRIED if name in data]
    return [kind for kind in kinds if kind]


def merge_job(old: Mapping[str, Any] | None, key: str, change: JobChange) -> Doc | None:
    latest = _load(old)
    for fact in change.facts:
        for kind in _job_kinds(fact):
            _keep(latest, kind, fact)
    counts = {**EMPTY_COUNTS, **((old or {}).get("counts") or {})}
    for kind, n in (change.counts or {}).items():
        counts[kind] = max(counts.get(kind, 0), n)  # runs are only ever added: never fewer
    new = job_doc(key, latest, counts)
    return None if _unchanged(old, new) else new


def _latest_of(latest: Mapping[str, Fact], kinds: Iterable[str]) -> Fact | None:
    found = [latest[kind] for kind in kinds if kind in latest]
    return max(found, key=Fact.key) if found else None


def _active(latest: Mapping[str, Fact]) -> bool:
    """Removal is final until the job is added (or modified) again: a run reported after the
    removal (APScheduler removes a job at its last submission, then reports the submission)
    does not bring it back."""
    present = _latest_of(latest, ("added", "modified"))
    gone = _latest_of(latest, ("removed", "cleared"))
    return gone is None or (present is not None and present.key() > gone.key())


def _pending_since(latest: Mapping[str, Fact]) -> float | None:
    """When the latest submission was made, if no run ended after it."""
    submitted = latest.get("submitted")
    ended = _latest_of(latest, ("executed", "error"))
    if submitted is None or (ended is not None and ended.key() >= submitted.key()):
        return None
    return submitted.time


def _when(value: float | None) -> datetime | None:
    return None if value is None else to_datetime(value)


def job_doc(key: str, latest: Mapping[str, Fact], counts: dict[str, int]) -> Doc:
    some = next(f.data for f in latest.values() if "job_id" in f.data)
    org, alias, job_id = some["org"], some["alias"], some["job_id"]
    last_run = _latest_of(latest, OUTCOMES)
    error, executed = latest.get("error"), latest.get("executed")
    configured = latest.get("configured")
    health = latest.get("health")
    nxt = latest.get("next")
    return {
        "_id": key,
        "org": org,
        "alias": alias,
        "scheduler": scheduler_key(org, alias),
        "job_id": job_id,
        **{name: _carried(latest, name) for name in CARRIED},
        "active": _active(latest),
        "next_run_time": _when(nxt.data.get("next_run_time")) if nxt else None,
        "last_run": {"time": to_datetime(last_run.time), "outcome": RUN_CODES[last_run.code]}
        if last_run
        else None,
        "pending_since": _when(_pending_since(latest)),
        "last_event_time": _when(_last_reported(latest)),
        "counts": counts,
        "last_exception": error.data.get("exception") if error else None,
        "traceback": error.data.get("traceback") if error else None,
        "return_value": executed.data.get("return_value") if executed else None,
        "health": health.data["health"] if health else "ok",
        "health_since": to_datetime(health.time) if health else None,
        "grace_seconds": configured.data.get("grace_seconds") if configured else None,
        "max_runtime_seconds": configured.data.get("max_runtime_seconds") if configured else None,
        "_latest": _dump(latest),
    }


def _last_reported(latest: Mapping[str, Fact]) -> float | None:
    times = [f.time for f in latest.values() if f.type == contract.REPORTED]
    return max(times) if times else None


def _carried(latest: Mapping[str, Fact], name: str) -> Any:
    fact = latest.get(f"carries_{name}")
    return fact.data.get(name) if fact else None


def count_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, int]]:
    """``{job, kind, n}`` rows (the store's count) as counts per job."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict(EMPTY_COUNTS))
    for row in rows:
        if row["kind"] in EMPTY_COUNTS:
            counts[str(row["job"])][str(row["kind"])] = int(row["n"])
    return dict(counts)
