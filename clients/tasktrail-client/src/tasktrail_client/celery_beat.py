"""A Celery beat scheduler that reports beat's entries and dispatches to tasktrail::

    celery -A proj beat -S tasktrail_client.celery_beat:TasktrailScheduler

with ``tasktrail_url`` and ``tasktrail_token`` in the app's configuration (or
``TASKTRAIL_URL`` / ``TASKTRAIL_TOKEN`` in the environment). The scheduler's alias is
``tasktrail_alias``, else the app's name.

At start it reports ``started`` and each entry as a job (``job_added``, with its next run
time); each dispatch is a ``job_submitted`` naming the Celery task it sent
(``celery_task_id``), so tasktrail takes the run's outcome from the task's own events. It
reports no shutdown: beat not running is what one watches beat for, so its jobs go
``missed`` when it stops.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

from celery.beat import PersistentScheduler, ScheduleEntry

from tasktrail_client.sender import Sender

logger = logging.getLogger("tasktrail_client")
STARTED, JOB_ADDED, ERROR, SUBMITTED = 1, 512, 8192, 32768


def _setting(app: Any, name: str) -> str | None:
    value = app.conf.get(f"tasktrail_{name}") or os.environ.get(f"TASKTRAIL_{name.upper()}")
    return str(value) if value else None


class TasktrailScheduler(PersistentScheduler):  # type: ignore[misc]
    sender: Sender | None = None
    alias = "celery-beat"

    def setup_schedule(self) -> None:
        super().setup_schedule()
        url, token = _setting(self.app, "url"), _setting(self.app, "token")
        self.alias = _setting(self.app, "alias") or self.app.main or self.alias
        if url is None or token is None:
            return
        self.sender = Sender(url, token)
        self._report(STARTED)
        for entry in self.schedule.values():
            self._report(JOB_ADDED, entry, entry)

    def _report(
        self, code: int, entry: ScheduleEntry | None = None, after: ScheduleEntry | None = None,
        **more: Any,
    ) -> None:  # fmt: skip
        if self.sender is None:
            return
        now = time.time()
        payload: dict[str, Any] = {"event_code": code, "alias": self.alias, "time": now, **more}
        if entry is not None:
            payload.update(job_id=entry.name, job_store="beat", task=entry.task)
        if after is not None:
            payload["next_scheduled_run_time"] = now + max(0.0, float(after.is_due()[1]))
        self.sender.submit(payload)

    def apply_entry(self, entry: ScheduleEntry, producer: Any = None) -> None:
        """Dispatch as beat does, and report the dispatch with the task's id."""
        after = self.schedule.get(entry.name, entry)  # tick reserved the next run already
        try:
            result = self.apply_async(entry, producer=producer, advance=False)
        except Exception as exc:
            self._report(ERROR, entry, after, exception=repr(exc))
            logger.error("Message Error: %s", exc, exc_info=True)
            return
        task_id = getattr(result, "id", None)
        self._report(SUBMITTED, entry, after, celery_task_id=task_id)

    def close(self) -> None:
        super().close()
        if self.sender is not None:
            self.sender.close(timeout=2.0)
