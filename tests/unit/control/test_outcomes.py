"""Celery's broadcast replies become one outcome per worker."""

from __future__ import annotations

from tasktrail_control.outcomes import for_named_workers, from_replies


def test_celery_broadcast_replies_become_one_outcome_per_worker() -> None:
    outcomes = from_replies(
        [{"w1@h": {"ok": "tasks a flagged as revoked"}}, {"w2@h": {"error": "denied"}}]
    )
    assert outcomes["w1@h"].status == "ok"
    assert outcomes["w1@h"].detail == "tasks a flagged as revoked"
    assert outcomes["w2@h"].status == "error"


def test_named_workers_that_did_not_answer_are_reported_as_errors() -> None:
    answered = from_replies([{"w1@h": {"ok": "pong"}}])
    outcomes = for_named_workers(["w1@h", "ghost@h"], answered, "shutdown")
    assert outcomes["w1@h"].status == "ok" and outcomes["w1@h"].detail == "shutdown"
    assert outcomes["ghost@h"].status == "error"
