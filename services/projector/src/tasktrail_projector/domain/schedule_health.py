"""Runs that never happened: what the schedule sweep concludes from the read models and the
time, as events for the log. Pure: the sweep passes ``now`` in.

A job's health (see docs/schedulers.md and decision 0009), first rule that holds:

1. ``paused``: its scheduler is paused or shut down;
2. ``timeout``: a submission has had no outcome for longer than its maximum run time;
3. ``paused``: it has no next run time (the job itself is paused) and nothing runs;
4. ``missed``: its next run time is more than its grace period past;
5. ``late``: its next run time is past by more than a little (:func:`slack`), within grace;
6. ``failing`` / ``missed``: its last run raised / was missed by the scheduler (16384);
7. ``ok``.

Each verdict comes with the moment it became true, taken from the documents (a deadline, a
run's time), never from the sweep's own clock, so two sweeps (or two projector replicas)
that see the same documents write the same event, and the log drops the second.

A scheduler that is neither paused nor shut down, has a job overdue past its grace, and has
said nothing since that deadline is silent (``unresponsive``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tasktrail_shared import schedules as contract
from tasktrail_shared.schedules import DEFAULT_GRACE_SECONDS, JobHealth, Reported, SchedulerSilent

Doc = Mapping[str, Any]
SLACK_MAX = 1.0
"""A run is not ``late`` the moment its time passes: its submission is on its way."""
STOPPED = ("paused", "shutdown")
READY = {"SUCCESS": contract.EXECUTED, "FAILURE": contract.ERROR, "REVOKED": contract.ERROR}
"""A Celery task's final state as the outcome of the beat run that dispatched it."""
TASK_FIELDS = ("state", "succeeded", "failed", "revoked", "exception", "traceback", "result")


def slack(grace: float) -> float:
    """How long past its time a run may still be on its way: at most a second, less for a
    short grace period."""
    return min(SLACK_MAX, grace / 2)


def _epoch(value: Any) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


@dataclass(frozen=True, slots=True)
class Verdict:
    health: str
    at: float


def grace_of(job: Doc) -> float:
    return float(job.get("grace_seconds") or DEFAULT_GRACE_SECONDS)


def _overdue(job: Doc, now: float) -> Verdict | None:
    due = _epoch(job.get("next_run_time"))
    if due is None:
        return None
    grace = grace_of(job)
    if now > due + grace:
        return Verdict("missed", due + grace)
    if now > due + slack(grace):
        return Verdict("late", due + slack(grace))
    return None


def _stopped(job: Doc, scheduler: Doc | None, now: float) -> Verdict | None:
    if scheduler is not None and scheduler.get("state") in STOPPED:
        return Verdict("paused", _epoch(scheduler.get("state_since")) or 0.0)
    pending = _epoch(job.get("pending_since"))
    limit = job.get("max_runtime_seconds")
    if pending is not None and limit and now > pending + float(limit):
        return Verdict("timeout", pending + float(limit))
    if job.get("next_run_time") is None and pending is None:
        return Verdict("paused", _epoch(job.get("last_event_time")) or 0.0)
    return None


def _by_last_run(job: Doc) -> Verdict:
    last = job.get("last_run") or {}
    at = _epoch(last.get("time")) or _epoch(job.get("last_event_time")) or 0.0
    outcome = last.get("outcome")
    if outcome == "error":
        return Verdict("failing", at)
    if outcome == "missed":
        return Verdict("missed", at)
    return Verdict("ok", at)


def judge(job: Doc, scheduler: Doc | None, now: float) -> Verdict:
    """The job's health now (rules in the module docstring)."""
    return _stopped(job, scheduler, now) or _overdue(job, now) or _by_last_run(job)


def job_health(job: Doc, scheduler: Doc | None, now: float) -> JobHealth | None:
    """The event to write if the job's health changed; its ``at`` never goes back before the
    health it replaces, so the latest health event is always the newest verdict."""
    verdict = judge(job, scheduler, now)
    previous = str(job.get("health") or "ok")
    if verdict.health == previous:
        return None
    since = _epoch(job.get("health_since"))
    at = verdict.at if since is None else max(verdict.at, round(since + 0.001, 3))
    return JobHealth(
        org=job["org"],
        alias=job["alias"],
        job_id=job["job_id"],
        health=verdict.health,  # type: ignore[arg-type]  # judge only gives HEALTHS
        previous=previous,
        at=round(at, 3),
    )


def scheduler_silent(scheduler: Doc, jobs: Iterable[Doc], now: float) -> SchedulerSilent | None:
    """The event to write if a running scheduler fell silent while a job of it is overdue."""
    if scheduler.get("state") != "running":
        return None
    last_seen = _epoch(scheduler.get("last_seen")) or 0.0
    deadlines = []
    for job in jobs:
        due = _epoch(job.get("next_run_time"))
        if due is not None and last_seen < due + grace_of(job) < now:
            deadlines.append(due + grace_of(job))
    if not deadlines:
        return None
    return SchedulerSilent(
        org=scheduler["org"], alias=scheduler["alias"], at=round(min(deadlines), 3),
        last_seen=last_seen,
    )  # fmt: skip


def task_outcome(run: Doc, task: Doc | None) -> Reported | None:
    """The outcome of a beat run, once the Celery task it dispatched is final."""
    if task is None or task.get("state") not in READY:
        return None
    state = str(task["state"])
    when = task.get({"SUCCESS": "succeeded", "FAILURE": "failed"}.get(state, "revoked"))
    moment = _epoch(when) or _epoch(run.get("time")) or 0.0
    failed = READY[state] == contract.ERROR
    return Reported(
        org=run["org"],
        alias=run["alias"],
        code=READY[state],
        time=round(moment, 3),
        job_id=run["job_id"],
        celery_task_id=run["celery_task_id"],
        exception=(str(task.get("exception") or state) if failed else None),
        traceback=task.get("traceback") if failed else None,
        return_value=None if failed else _text(task.get("result")),
        via="task",
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[: contract.MAX_TEXT]


def by_scheduler(jobs: Iterable[Doc]) -> dict[str, list[Doc]]:
    grouped: dict[str, list[Doc]] = {}
    for job in jobs:
        grouped.setdefault(str(job["scheduler"]), []).append(job)
    return grouped
