"""``schedule_missed``: the sweep's health verdicts of scheduled jobs, folded from the log,
open an incident per job while it is missed (or late, if asked) and resolve it when the job
runs again."""

from __future__ import annotations

from typing import Any

from tasktrail_notifier.domain.incidents import Book, incident_id
from tasktrail_notifier.domain.observations import Observations
from tasktrail_notifier.domain.rules import Rule

from tests.unit.notifier.test_incidents import APP, rule, step


def health(obs: Observations, job: str, value: str, at: float, **fields: Any) -> None:
    payload = {"org": "default", "alias": "billing", "job_id": job, "health": value, "at": at}
    obs.fold_schedule(APP, True, {**payload, **fields})


def report(obs: Observations, job: str, task: str, org: str = "default") -> None:
    obs.fold_schedule(APP, False, {"org": org, "alias": "billing", "job_id": job, "task": task})


def test_a_missed_job_fires_from_its_deadline_and_resolves_when_it_runs_again() -> None:
    obs, book, r = Observations(), Book(), rule("schedule_missed", {"late": False})
    health(obs, "nightly", "late", 100.0)
    assert step(book, r, obs, 101.0) == []  # late is not missed
    health(obs, "nightly", "missed", 160.0)
    assert step(book, r, obs, 161.0) == [("opened", "billing/nightly", 0)]
    (opened,) = book.open.values()
    assert opened.id == incident_id("r1", APP, "billing/nightly", 160.0)
    health(obs, "nightly", "ok", 170.0)
    assert step(book, r, obs, 171.0) == [("resolved", "billing/nightly", 0)]


def test_late_counts_from_the_first_late_verdict() -> None:
    obs, book, r = Observations(), Book(), rule("schedule_missed", {"late": True})
    health(obs, "j", "late", 100.0)
    health(obs, "j", "missed", 160.0)
    assert step(book, r, obs, 161.0) == [("opened", "billing/j", 0)]
    (opened,) = book.open.values()
    assert opened.started_at == 100.0


def test_an_older_verdict_read_late_does_not_replace_a_newer_one() -> None:
    obs, book, r = Observations(), Book(), rule("schedule_missed", {})
    health(obs, "j", "missed", 160.0)
    health(obs, "j", "ok", 150.0)  # out of order in the log: older, ignored
    assert step(book, r, obs, 161.0) == [("opened", "billing/j", 0)]


def test_filters_by_task_name_scheduler_job_and_organisation() -> None:
    obs, book = Observations(), Book()
    report(obs, "a", "billing.invoice")
    report(obs, "b", "billing.cleanup")
    for job in ("a", "b", "c"):
        health(obs, job, "missed", 10.0)
    health(obs, "x", "missed", 10.0, org="other")
    by_name = rule("schedule_missed", {}, filter={"name": "billing.*", "exclude": ["*.cleanup"]})
    assert step(book, by_name, obs, 11.0) == [("opened", "billing/a", 0)]
    by_job = rule("schedule_missed", {"scheduler": "bill*", "job": "[bc]"})
    assert step(Book(), by_job, obs, 11.0) == [
        ("opened", "billing/b", 0),
        ("opened", "billing/c", 0),
    ]
    elsewhere = rule("schedule_missed", {"scheduler": "other-*"})
    assert step(Book(), elsewhere, obs, 11.0) == []


def test_jobs_are_matched_by_their_own_organisation_not_the_clusters() -> None:
    r = rule("schedule_missed", {})
    assert r.watches(APP, owner="someone-else")
    assert not rule("task_failed").watches(APP, owner="someone-else")
    assert Rule.from_document(
        {"_id": "r", "org": "o", "name": "n", "kind": "schedule_missed", "params": {"late": True}}
    ).params == {"late": True, "scheduler": None, "job": None}
