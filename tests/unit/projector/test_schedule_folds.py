"""The scheduler and job folds are a pure function of the set of reports: any order, any
duplication, any split into batches gives the same documents."""

from __future__ import annotations

import itertools
import random
from typing import Any

from tasktrail_projector.domain import schedules
from tasktrail_projector.domain.schedules import Fact, JobChange, decode_fact
from tasktrail_shared.schedules import REPORTED, SCHEDULER_SILENT, Report, reported

T = 1_800_000_000.0


def report(n: int, **body: Any) -> Fact:
    payload = reported(Report.model_validate({"alias": "a", **body}), "o", T + n)
    data = payload.model_dump(exclude_none=True)
    return decode_fact(REPORTED, data, f"id{n}", T + n)


FACTS = [
    report(0, event_code=1, time=T),
    report(1, event_code=512, job_id="j", task="m:f", time=T + 1, next_run_time=T + 10),
    report(2, event_code=32768, job_id="j", time=T + 10, next_run_time=T + 20),
    report(3, event_code=8192, job_id="j", time=T + 11, exception="E"),
    report(4, event_code=4, time=T + 12),
    report(5, event_code=1024, job_id="j", time=T + 13),
    report(6, event_code=32768, job_id="j", time=T + 14),  # reported after the removal
]


def fold(facts: list[Fact], batches: int) -> tuple[dict[str, Any], dict[str, Any]]:
    scheduler: dict[str, Any] | None = None
    job: dict[str, Any] | None = None
    size = max(1, len(facts) // batches)
    for start in range(0, len(facts), size):
        batch = schedules.group(facts[start : start + size])
        for facts_of in batch.schedulers.values():
            scheduler = schedules.merge_scheduler(scheduler, "o/a", facts_of) or scheduler
        for facts_of in batch.jobs.values():
            job = schedules.merge_job(job, "o/a/j", JobChange(facts_of)) or job
    assert scheduler is not None and job is not None
    return scheduler, job


def test_any_order_duplication_and_batching_give_the_same_documents() -> None:
    expected = fold(FACTS, 1)
    scheduler, job = expected
    assert scheduler["state"] == "paused" and scheduler["last_event"]["event"] == "job_submitted"
    assert job["active"] is False and job["task"] == "m:f" and job["last_exception"] == "E"
    assert job["last_run"]["outcome"] == "error"
    rng = random.Random(7)
    for _ in range(30):
        shuffled = FACTS + rng.sample(FACTS, 3)
        rng.shuffle(shuffled)
        assert fold(shuffled, rng.randint(1, 5)) == expected


def test_silence_holds_until_the_scheduler_speaks_again() -> None:
    silent = decode_fact(SCHEDULER_SILENT, {"org": "o", "alias": "a", "at": T + 30,
                                            "last_seen": T + 4}, "s1", T + 31)  # fmt: skip
    for order in itertools.permutations([*FACTS[:2], silent]):
        doc = schedules.merge_scheduler(None, "o/a", list(order))
        assert doc is not None and doc["state"] == "unresponsive"
    again = report(40, event_code=1, time=T + 40)
    doc = schedules.merge_scheduler(None, "o/a", [*FACTS[:2], silent, again])
    assert doc is not None and doc["state"] == "running"
