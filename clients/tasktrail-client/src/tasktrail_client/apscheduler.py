"""An APScheduler 3.x listener that reports every event to tasktrail::

    from tasktrail_client.apscheduler import TasktrailListener
    scheduler.add_listener(TasktrailListener(url, token, alias="billing"), EVENT_ALL)

Each event becomes seed 002's payload (plus ``alias`` and ``time`` on every one, and the
job's ``task`` and ``next_scheduled_run_time`` where the scheduler knows them), is queued and
posted from a background thread (:class:`~tasktrail_client.sender.Sender`). The listener
never raises into the scheduler and never waits for the network.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from tasktrail_client.sender import Sender

log = logging.getLogger("tasktrail_client")

JOB_LOOKUP = frozenset({512, 2048, 32768, 65536})
"""Events after which the job's name and next run time are read from the scheduler."""
MAX_TEXT = 10_000


def _epoch(moment: Any) -> float | None:
    return moment.timestamp() if isinstance(moment, datetime) else None


def _text(value: Any) -> str:
    return (value if isinstance(value, str) else repr(value))[:MAX_TEXT]


def _task_name(job: Any) -> str:
    func = getattr(job, "func_ref", None) or getattr(job, "func", None)
    return str(func) if isinstance(func, str) else str(getattr(job, "name", "") or func)


class TasktrailListener:
    """Callable as an APScheduler listener; ``scheduler`` is found by itself when omitted."""

    def __init__(
        self,
        url: str,
        token: str,
        alias: str = "default",
        *,
        scheduler: Any = None,
        sender: Sender | None = None,
        capacity: int = 10_000,
    ) -> None:
        self.alias = alias
        self.scheduler = scheduler
        self.sender = sender or Sender(url, token, capacity=capacity)

    def __call__(self, event: Any) -> None:
        try:
            self.sender.submit(self.payload(event, self._scheduler()))
        except Exception:  # a listener that raises would only be logged by APScheduler
            log.exception("tasktrail: could not report %r", event)

    def _scheduler(self) -> Any:
        """The scheduler dispatching this event: APScheduler calls its listeners from its
        own ``_dispatch_event``, whose ``self`` it is (found once, then kept)."""
        if self.scheduler is None:
            frame = sys._getframe(2)
            candidate = frame.f_locals.get("self")
            if hasattr(candidate, "get_job") and hasattr(candidate, "add_listener"):
                self.scheduler = candidate
        return self.scheduler

    def payload(self, event: Any, scheduler: Any = None) -> dict[str, Any]:
        """Seed 002's payload for one event."""
        code = int(event.code)
        out: dict[str, Any] = {"event_code": code, "alias": self.alias, "time": time.time()}
        job_id = getattr(event, "job_id", None)
        if job_id is None:
            return out
        out["job_id"] = str(job_id)
        if getattr(event, "jobstore", None) is not None:
            out["job_store"] = str(event.jobstore)
        out.update(_outcome(event))
        if code in JOB_LOOKUP and scheduler is not None:
            out.update(_job_details(scheduler, str(job_id), getattr(event, "jobstore", None)))
        return out

    def close(self, timeout: float = 5.0) -> None:
        self.sender.close(timeout)


def _outcome(event: Any) -> Mapping[str, Any]:
    out: dict[str, Any] = {}
    scheduled = getattr(event, "scheduled_run_time", None)
    times = getattr(event, "scheduled_run_times", None)
    if scheduled is None and times:
        scheduled = times[0]
    if _epoch(scheduled) is not None:
        out["scheduled_run_time"] = _epoch(scheduled)
    if getattr(event, "exception", None) is not None:
        out["exception"] = _text(event.exception)
        out["traceback"] = _text(getattr(event, "traceback", "") or "")
    if int(event.code) == 4096:
        out["return_value"] = _text(getattr(event, "retval", None))
    return out


def _job_details(scheduler: Any, job_id: str, jobstore: Any) -> Mapping[str, Any]:
    try:
        job = scheduler.get_job(job_id, jobstore)
    except Exception:  # the job store may be away; the report goes without the details
        return {}
    if job is None:
        return {}
    return {
        "task": _task_name(job),
        "next_scheduled_run_time": _epoch(getattr(job, "next_run_time", None)),
    }
