"""Turn Celery's broadcast replies into one outcome per worker (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tasktrail_shared.commands import WorkerOutcome

NO_ANSWER = "no such worker, or it did not answer"


def from_replies(replies: Iterable[Mapping[str, Any]] | None) -> dict[str, WorkerOutcome]:
    """``[{"w1": {"ok": "..."}}, {"w2": {"error": "..."}}]`` -> ``{"w1": ok, "w2": error}``.

    Control commands answer ``{"ok": ...}`` or ``{"error": ...}``; inspect commands answer
    their data as is (a stats mapping, a list of tasks), which becomes the ``ok`` detail.
    """
    outcomes: dict[str, WorkerOutcome] = {}
    for reply in replies or []:
        for worker, body in reply.items():
            if isinstance(body, Mapping) and "error" in body:
                outcomes[worker] = WorkerOutcome(status="error", detail=body["error"])
            else:
                detail = body.get("ok", body) if isinstance(body, Mapping) else body
                outcomes[worker] = WorkerOutcome(status="ok", detail=detail)
    return outcomes


def with_missing(
    names: Iterable[str] | None, outcomes: Mapping[str, WorkerOutcome]
) -> dict[str, WorkerOutcome]:
    """Every named worker gets an outcome: one that did not answer is reported, not left out."""
    missing = {
        name: WorkerOutcome(status="error", detail=NO_ANSWER)
        for name in names or ()
        if name not in outcomes
    }
    return {**outcomes, **missing}


def for_named_workers(
    names: Iterable[str], answered: Mapping[str, WorkerOutcome], done: str
) -> dict[str, WorkerOutcome]:
    """Outcome for each requested worker: ``done`` if it answered the ping, else an error."""
    return {
        name: WorkerOutcome(status="ok", detail=done)
        if name in answered
        else WorkerOutcome(status="error", detail=NO_ANSWER)
        for name in names
    }


def answered_data(outcomes: Mapping[str, WorkerOutcome]) -> dict[str, Any]:
    """What each worker answered to an inspect command, errors left out."""
    return {name: o.detail for name, o in outcomes.items() if o.status == "ok"}
