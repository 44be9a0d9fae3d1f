"""The health rules of scheduled jobs and the scheduler's silence, on documents as the
projector writes them (pure: ``now`` is given)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from tasktrail_projector.domain.schedule_health import job_health, judge, scheduler_silent

T = 1_800_000_000.0


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T + seconds, UTC)


def job(**fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"org": "o", "alias": "a", "job_id": "j", "scheduler": "o/a",
                           "next_run_time": at(10), "health": "ok",
                           "last_event_time": at(0)}  # fmt: skip
    return {**doc, **fields}


RUNNING = {"org": "o", "alias": "a", "state": "running", "last_seen": at(0)}


@pytest.mark.parametrize(
    ("doc", "scheduler", "now", "health", "since"),
    [
        (job(), RUNNING, 10.5, "ok", 0),  # within the slack: the submission is on its way
        (job(), RUNNING, 11.5, "late", 11),
        (job(grace_seconds=5), RUNNING, 16, "missed", 15),
        (job(), RUNNING, 71, "missed", 70),  # default grace: 60 s
        (job(grace_seconds=0.5), RUNNING, 10.4, "late", 10.25),  # slack: half a short grace
        (job(), {**RUNNING, "state": "paused", "state_since": at(3)}, 100, "paused", 3),
        (job(), {**RUNNING, "state": "shutdown", "state_since": at(4)}, 100, "paused", 4),
        (job(next_run_time=None), RUNNING, 100, "paused", 0),
        (job(pending_since=at(5), max_runtime_seconds=2), RUNNING, 8, "timeout", 7),
        (job(pending_since=at(5)), RUNNING, 8, "ok", 0),  # no maximum: never a timeout
        (job(last_run={"time": at(2), "outcome": "error"}), RUNNING, 5, "failing", 2),
        (job(last_run={"time": at(2), "outcome": "missed"}), RUNNING, 5, "missed", 2),
        (job(last_run={"time": at(2), "outcome": "executed"}), RUNNING, 5, "ok", 2),
    ],
)
def test_rules(
    doc: dict[str, Any], scheduler: dict[str, Any], now: float, health: str, since: float
) -> None:
    verdict = judge(doc, scheduler, T + now)
    assert verdict.health == health
    assert verdict.at - T == pytest.approx(since)


def test_a_change_is_an_event_that_never_goes_back_in_time() -> None:
    assert job_health(job(), RUNNING, T + 5) is None  # still ok: nothing to write
    late = job_health(job(), RUNNING, T + 12)
    assert late is not None and (late.health, late.previous, late.at) == ("late", "ok", T + 11)
    # back to ok by a run older than the late verdict: written just after it
    ran = job(health="late", health_since=at(11), next_run_time=at(20),
              last_run={"time": at(10.2), "outcome": "executed"})  # fmt: skip
    ok = job_health(ran, RUNNING, T + 12)
    assert ok is not None and ok.health == "ok" and ok.at == pytest.approx(T + 11.001)
    # the same documents give the same event, whichever sweep or replica judges them
    assert job_health(job(), RUNNING, T + 12) == job_health(job(), RUNNING, T + 13)


def test_a_scheduler_is_silent_when_it_said_nothing_since_a_jobs_deadline() -> None:
    overdue = job(grace_seconds=5)
    silent = scheduler_silent(RUNNING, [overdue], T + 16)
    assert silent is not None and (silent.at, silent.last_seen) == (T + 15, T)
    assert scheduler_silent(RUNNING, [overdue], T + 14) is None  # not past grace yet
    heard = {**RUNNING, "last_seen": at(15.5)}
    assert scheduler_silent(heard, [overdue], T + 16) is None  # it spoke after the deadline
    for state in ("paused", "shutdown", "unresponsive"):
        assert scheduler_silent({**RUNNING, "state": state}, [overdue], T + 16) is None
