"""Scheduled jobs: seed 002's ``POST /event`` (a scheduler reports an event), the queries over
schedulers, jobs and runs, and a job's grace period and maximum run time.

A report is validated with the shared contract and published to the log; it is answered only
once JetStream acknowledged it (durable). Its id is the hash of what the log keeps, which
holds no receive time when the report gave its own ``time``: a client's retry of the same
report is dropped by the log as a duplicate, and counted once.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import ValidationError
from tasktrail_shared import schedules as contract
from tasktrail_shared.own_events import DEFAULT_ORG

from tasktrail_api.domain import schedules as shown
from tasktrail_api.domain.errors import BadRequest, NotFound
from tasktrail_api.domain.plan import Doc
from tasktrail_api.domain.principals import Principal
from tasktrail_api.domain.scope import Scope
from tasktrail_api.usecases.polling import wait_for
from tasktrail_api.usecases.ports import Clock, Documents, EventPublisher, Published

MAX_SCHEDULERS = 10_000
MAX_JOBS = 10_000
MAX_SUBMISSIONS = 1000


class ScheduleReads(Protocol):
    """The projector's scheduled-jobs read models."""

    @property
    def schedulers(self) -> Documents: ...

    @property
    def jobs(self) -> Documents: ...

    @property
    def runs(self) -> Documents: ...

    async def job_counts(self, schedulers: list[str]) -> dict[str, int]:
        """How many active jobs each scheduler (``_id``) has."""
        ...


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "body"
    return f"{where}: {first['msg']}"


class Schedules:
    def __init__(
        self, reads: ScheduleReads, publisher: EventPublisher, clock: Clock, *, wait: float
    ) -> None:
        self._reads = reads
        self._publisher = publisher
        self._clock = clock
        self._wait = wait

    async def report(self, caller: Principal, body: Any) -> Published:
        """Publish one scheduler event for the caller's organisation (root: the default)."""
        if not isinstance(body, dict):
            raise BadRequest("body: must be a JSON object")
        try:
            report = contract.Report.model_validate(body)
        except ValidationError as exc:
            raise BadRequest(_problem(exc)) from exc
        org = caller.org or DEFAULT_ORG
        event = contract.reported(report, org, round(self._clock.now().timestamp(), 3))
        return await self._publisher.publish(contract.REPORTED, event.model_dump(exclude_none=True))

    async def schedulers(self, scope: Scope) -> list[dict[str, Any]]:
        docs = await self._reads.schedulers.rows(shown.in_scope(scope), None, MAX_SCHEDULERS)
        docs.sort(key=lambda d: (str(d.get("alias")), str(d["_id"])))
        counts = await self._reads.job_counts([str(d["_id"]) for d in docs])
        return [shown.scheduler(d, counts.get(str(d["_id"]), 0)) for d in docs]

    async def _scheduler(self, alias: str, scope: Scope) -> Doc:
        doc = await self._reads.schedulers.one(shown.scheduler_query(alias, scope))
        if doc is None:
            raise NotFound.named(f"scheduler {alias!r}")
        return doc

    async def scheduler(self, alias: str, scope: Scope) -> dict[str, Any]:
        doc = await self._scheduler(alias, scope)
        counts = await self._reads.job_counts([str(doc["_id"])])
        return shown.scheduler(doc, counts.get(str(doc["_id"]), 0))

    async def jobs(self, alias: str, scope: Scope, health: str | None) -> list[dict[str, Any]]:
        doc = await self._scheduler(alias, scope)
        query = shown.jobs_query(str(doc["_id"]), health)
        rows = await self._reads.jobs.rows(query, {"_latest": 0}, MAX_JOBS)
        return [shown.job(row) for row in rows]

    async def _job(self, alias: str, job_id: str, scope: Scope) -> Doc:
        doc = await self._scheduler(alias, scope)
        job = await self._reads.jobs.one(
            contract_job(str(doc["org"]), alias, job_id), {"_latest": 0}
        )
        if job is None:
            raise NotFound.named(f"job {job_id!r}")
        return job

    async def job(self, alias: str, job_id: str, scope: Scope) -> dict[str, Any]:
        return shown.job(await self._job(alias, job_id, scope))

    async def runs(
        self, alias: str, job_id: str, scope: Scope, cursor: str | None, limit: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        job = await self._job(alias, job_id, scope)
        try:
            plan = shown.runs_plan(str(job["_id"]), cursor, limit)
        except ValueError as exc:
            raise BadRequest.field("cursor", str(exc)) from exc
        rows = await self._reads.runs.read(plan.steps, plan.limit, plan.projection or None)
        ended = [r["time"] for r in rows if r.get("kind") in ("executed", "error")]
        submissions: list[Doc] = []
        if ended:
            query = {"job": job["_id"], "kind": "submitted", "time": {"$lte": max(ended)}}
            submissions = await self._reads.runs.rows(query, {"time": 1}, MAX_SUBMISSIONS)
        return shown.runs(rows, submissions), shown.next_cursor(rows, limit)

    async def configure(
        self, caller: Principal, alias: str, job_id: str, patch: shown.JobPatch, scope: Scope
    ) -> dict[str, Any]:
        """Publish the job's new settings and wait until the projector applied them."""
        job = await self._job(alias, job_id, scope)
        settings = patch.applied_to(job)
        event = contract.JobConfigured(
            org=job["org"],
            alias=job["alias"],
            job_id=job["job_id"],
            at=round(self._clock.now().timestamp(), 6),
            actor=caller.name,
            **settings,
        )
        published = await self._publisher.publish(
            contract.JOB_CONFIGURED, event.model_dump(exclude_none=True)
        )

        def applied(doc: Doc | None) -> bool:
            held = ((doc or {}).get("_latest") or {}).get("configured") or {}
            return isinstance(held, dict) and held.get("id") == published.id

        doc, done = await wait_for(
            lambda: self._reads.jobs.one({"_id": job["_id"]}), applied, self._clock, self._wait
        )
        if not done or doc is None:
            return {**shown.job({**job, **settings}), "event_id": published.id}
        return shown.job(doc)


def contract_job(org: str, alias: str, job_id: str) -> dict[str, str]:
    return {"_id": contract.job_key(org, alias, job_id)}
