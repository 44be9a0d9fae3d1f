"""Scheduled jobs as the API shows them: queries inside an organisation, the runs page, the
PATCH body, and the documents as JSON. Pure: no I/O.

A scheduler belongs to the organisation of the token that reported it; a root token sees
every organisation's. Field names are part of the contract (docs/schedulers.md).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field
from tasktrail_shared.models import ClosedModel
from tasktrail_shared.schedules import DEFAULT_GRACE_SECONDS

from tasktrail_api.domain.cursor import Cursor, decode_cursor, encode_cursor
from tasktrail_api.domain.plan import Doc, Query, ReadPlan, Segment, Step
from tasktrail_api.domain.scope import Scope
from tasktrail_api.domain.serializers import plain

RUNS_SORT = "-time"
JOB_FIELDS = (
    "job_id", "alias", "jobstore", "task", "active", "next_run_time", "last_run",
    "pending_since", "counts", "last_exception", "traceback", "return_value", "health",
    "health_since", "max_runtime_seconds",
)  # fmt: skip
RUN_FIELDS = (
    "kind", "time", "scheduled_run_time", "exception", "traceback", "return_value",
    "celery_task_id", "via",
)  # fmt: skip
HealthName = Literal["ok", "late", "missed", "failing", "timeout", "paused"]
Seconds = Annotated[float, Field(gt=0, le=365 * 86400)]


class JobPatch(ClosedModel):
    """``PATCH /monitor/schedulers/<alias>/jobs/<job_id>``: what is given replaces the job's
    setting; null restores the default (grace 60 s, no maximum run time)."""

    grace_seconds: Seconds | None = Field(
        default=None, description="past the expected run time: late until then, missed after"
    )
    max_runtime_seconds: Seconds | None = Field(
        default=None, description="a submission with no outcome for longer is a timeout"
    )

    def applied_to(self, job: Mapping[str, Any]) -> dict[str, float | None]:
        current = {
            "grace_seconds": job.get("grace_seconds"),
            "max_runtime_seconds": job.get("max_runtime_seconds"),
        }
        return {**current, **self.model_dump(include=self.model_fields_set)}


def in_scope(scope: Scope) -> Query:
    """Schedulers belong to organisations: a root token sees all, any other its own."""
    return {} if scope.org is None else {"org": scope.org}


def scheduler_query(alias: str, scope: Scope) -> Query:
    return {"alias": alias, **in_scope(scope)}


def jobs_query(scheduler_id: str, health: str | None) -> Query:
    query: Query = {"scheduler": scheduler_id}
    if health is not None:
        query["health"] = health
    return query


def runs_plan(job: str, cursor: str | None, limit: int) -> ReadPlan:
    """Newest first, by ``(time, _id)``; a cursor page starts after the cursor's row."""
    base: Query = {"job": job}
    sort = [("time", -1), ("_id", -1)]
    if cursor is None:
        return ReadPlan([Step((Segment(base, sort),), sort)], {}, limit)
    after = decode_cursor(cursor, RUNS_SORT)
    tied = {**base, "time": after.value, "_id": {"$lt": after.id}}
    older = {**base, "time": {"$lt": after.value}}
    steps = [Step((Segment(tied, sort),), sort), Step((Segment(older, sort),), sort)]
    return ReadPlan(steps, {}, limit)


def next_cursor(rows: Sequence[Doc], limit: int) -> str | None:
    if len(rows) < limit:
        return None
    last = rows[-1]
    return encode_cursor(Cursor(RUNS_SORT, last.get("time"), str(last["_id"])))


def scheduler(doc: Doc, jobs: int) -> dict[str, Any]:
    return {
        "alias": doc["alias"],
        "org": doc["org"],
        "state": doc.get("state"),
        "state_since": plain(doc.get("state_since")),
        "silent_since": plain(doc.get("silent_since")),
        "last_event": plain(doc.get("last_event")),
        "last_seen": plain(doc.get("last_seen")),
        "jobs": jobs,
    }


def job(doc: Doc) -> dict[str, Any]:
    out = {name: plain(doc.get(name)) for name in JOB_FIELDS}
    out["grace_seconds"] = doc.get("grace_seconds") or DEFAULT_GRACE_SECONDS
    return out


def runs(rows: Iterable[Doc], submissions: Sequence[Doc]) -> list[dict[str, Any]]:
    """Each run as JSON; an ended run (executed, error) gets ``duration``: seconds since the
    latest submission of its job at or before it."""
    times = sorted(s["time"] for s in submissions if isinstance(s.get("time"), datetime))
    shown = []
    for row in rows:
        out = {"id": str(row["_id"]), **{name: plain(row.get(name)) for name in RUN_FIELDS}}
        out["duration"] = _duration(row, times)
        shown.append(out)
    return shown


def _duration(row: Doc, submitted: Sequence[datetime]) -> float | None:
    ended = row.get("time")
    if row.get("kind") not in ("executed", "error") or not isinstance(ended, datetime):
        return None
    index = bisect_right(submitted, ended)
    if index == 0:
        return None
    return round((ended - submitted[index - 1]).total_seconds(), 3)
