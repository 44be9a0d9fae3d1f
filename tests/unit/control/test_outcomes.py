from __future__ import annotations

import pytest
from tasktrail_control.outcomes import for_named_workers, from_replies, normalise_signal


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, "SIGTERM"),
        ("TERM", "SIGTERM"),
        ("sigkill", "SIGKILL"),
        ("9", "SIGKILL"),
        (15, "SIGTERM"),
    ],
)
def test_signals_are_normalised_to_celerys_names(given: object, expected: str) -> None:
    assert normalise_signal(given) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("given", ["SIGNOPE", "999", "kill -9"])
def test_unknown_signals_are_refused(given: str) -> None:
    with pytest.raises(ValueError, match="unknown signal"):
        normalise_signal(given)


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
