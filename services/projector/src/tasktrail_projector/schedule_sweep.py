"""The schedule sweep: every ``interval`` seconds, judge every active job's health and every
scheduler's silence against the clock, and take beat runs' outcomes from their Celery tasks;
write each change found as an event into the log (``tasktrail.schedule.*``), which the
projection then folds like any other.

No event is needed to trigger it: a scheduler killed with ``kill -9`` sends nothing, and its
jobs still go ``late`` then ``missed``. Every event it writes is deterministic (see
``domain.schedule_health``), so replicas sweeping side by side write each one once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import KW_ONLY, dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel
from tasktrail_shared.schedules import JOB_HEALTH, REPORTED, SCHEDULER_SILENT, canonical
from tasktrail_shared.stream_message import StreamMessage, content_id

from tasktrail_projector.clock import SYSTEM_CLOCK
from tasktrail_projector.domain import schedule_health as rules
from tasktrail_projector.ports import (
    Clock,
    EventSink,
    ScheduleStore,
    SourceUnavailable,
    StoreUnavailable,
)

log = logging.getLogger("tasktrail.projector")
SOURCE = "tasktrail-projector"
OUTCOME_WINDOW = timedelta(days=1)
"""Beat runs whose task has no outcome after this long are left alone."""
OUTCOME_BATCH = 1000


@dataclass(eq=False)
class ScheduleSweep:
    store: ScheduleStore
    sink: EventSink
    _: KW_ONLY
    app: str
    interval: float = 1.0
    clock: Clock = SYSTEM_CLOCK

    def __post_init__(self) -> None:
        self.written = 0
        """Events this sweep wrote (duplicates the log dropped included)."""

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep()
            except (StoreUnavailable, SourceUnavailable) as exc:
                log.warning("schedule sweep paused: %s", exc)
            except Exception:
                log.exception("unexpected schedule sweep error")
            await self.clock.sleep(self.interval, stop)

    async def sweep(self) -> int:
        """One pass; returns how many events it wrote."""
        now = self.clock.now()
        epoch = now.timestamp()
        schedulers = {str(s["_id"]): s for s in await self.store.schedulers()}
        jobs = await self.store.active_jobs()
        found: list[tuple[str, BaseModel]] = []
        for job in jobs:
            changed = rules.job_health(job, schedulers.get(str(job["scheduler"])), epoch)
            if changed is not None:
                found.append((JOB_HEALTH, changed))
        grouped = rules.by_scheduler(jobs)
        for key, scheduler in schedulers.items():
            silent = rules.scheduler_silent(scheduler, grouped.get(key, []), epoch)
            if silent is not None:
                found.append((SCHEDULER_SILENT, silent))
        found += [(REPORTED, o) for o in await self._task_outcomes(now - OUTCOME_WINDOW)]
        for event_type, payload in found:
            await self._write(event_type, payload)
        return len(found)

    async def _task_outcomes(self, since: datetime) -> list[BaseModel]:
        runs = await self.store.task_submissions(since, OUTCOME_BATCH)
        ids = [str(r["celery_task_id"]) for r in runs]
        if not ids:
            return []
        done = await self.store.task_outcomes(ids)
        waiting = [r for r in runs if r["celery_task_id"] not in done]
        if not waiting:
            return []
        tasks = await self.store.tasks_by_id(
            [str(r["celery_task_id"]) for r in waiting], rules.TASK_FIELDS
        )
        by_id = {str(t["_id"]): t for t in tasks}
        outcomes = [rules.task_outcome(r, by_id.get(str(r["celery_task_id"]))) for r in waiting]
        return [o for o in outcomes if o is not None]

    async def _write(self, event_type: str, payload: BaseModel) -> None:
        data = canonical(payload)
        message = StreamMessage(
            id=content_id(data),
            type=event_type,
            source=SOURCE,
            app=self.app,
            received=self.clock.now().timestamp(),
            data=data,
        )
        await self.sink.publish(message)
        self.written += 1
        log.info("schedule: %s %s", event_type, data.decode()[:300])
