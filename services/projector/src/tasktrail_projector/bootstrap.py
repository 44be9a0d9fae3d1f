"""The composition root: settings -> adapters -> service. Nothing else builds adapters."""

from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass
from typing import TextIO

from tasktrail_projector.adapters.changes import NatsChangeNotifier
from tasktrail_projector.adapters.progress_output import progress_output
from tasktrail_projector.adapters.publisher import JetStreamSink
from tasktrail_projector.adapters.store import MongoStore
from tasktrail_projector.adapters.stream import JetStreamSource
from tasktrail_projector.clock import SYSTEM_CLOCK
from tasktrail_projector.rebuild import Rebuild, Until
from tasktrail_projector.schedule_sweep import ScheduleSweep
from tasktrail_projector.service import Projector
from tasktrail_projector.settings import Settings
from tasktrail_projector.sweeps import Maintenance


@dataclass
class Projection:
    """A wired projector, its sweeps, and the connections they own."""

    projector: Projector
    maintenance: Maintenance
    source: JetStreamSource
    store: MongoStore
    schedules: ScheduleSweep

    async def run(self, stop: asyncio.Event) -> None:
        """Project and sweep until ``stop`` is set."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.projector.run(stop))
            group.create_task(self.maintenance.run(stop))
            group.create_task(self.schedules.run(stop))

    async def ready(self) -> dict[str, bool]:
        """Readiness really pings: NATS connected and MongoDB answering."""
        return {"nats": self.source.connected, "mongo": await self.store.ping()}

    def counters(self) -> dict[str, int]:
        """This process's projection counts since it started (``Stats``)."""
        return asdict(self.projector.stats)

    async def close(self) -> None:
        try:
            await self.source.close()
        finally:
            await self.store.close()


def _projector(
    settings: Settings, source: JetStreamSource, store: MongoStore, *, live: bool = True
) -> Projector:
    """``live``: tell readers what each batch changed (a rebuild has no readers)."""
    return Projector(
        source,
        store,
        consumer=settings.projector_durable,
        rules=settings.label_rules(),
        batch_size=settings.projector_batch_size,
        fetch_timeout=settings.projector_fetch_timeout,
        sent_hold=settings.projector_sent_hold,
        cache_size=settings.projector_cache_size,
        notifier=NatsChangeNotifier(source.nc) if live else None,
        schedule_store=store,
    )


def _maintenance(settings: Settings, store: MongoStore, projector: Projector) -> Maintenance:
    return Maintenance(
        store,
        consumer=projector.consumer,
        touched=projector.take_touched_workers,
        stats_interval=settings.projector_stats_interval,
        lost_interval=settings.projector_lost_interval,
        window_days=settings.stats_window(),
        label_values=settings.projector_label_values,
    )


async def _ensure_indexes(store: MongoStore, settings: Settings) -> None:
    """The indexes and expiries the settings ask for (labels, TTLs, stats window)."""
    await store.ensure_indexes(
        settings.label_names(),
        settings.projector_task_ttl_days,
        settings.projector_event_ttl_days,
        settings.stats_window(),
    )


async def _open_store(settings: Settings, database: str) -> MongoStore:
    store = MongoStore.open(settings.mongo_url, database)
    try:
        await _ensure_indexes(store, settings)
    except BaseException:
        await store.close()
        raise
    return store


async def bootstrap(settings: Settings | None = None) -> Projection:
    settings = settings or Settings()
    store = await _open_store(settings, settings.mongo_db)
    try:
        source = await JetStreamSource.open(
            settings.nats_url,
            settings.stream_settings(),
            settings.projector_durable,
            settings.projector_ack_wait,
        )
    except BaseException:
        await store.close()
        raise
    projector = _projector(settings, source, store)
    sweep = ScheduleSweep(
        store,
        JetStreamSink(source.nc),
        app=settings.app,
        interval=settings.projector_schedule_interval,
    )
    return Projection(projector, _maintenance(settings, store, projector), source, store, sweep)


async def bootstrap_rebuild(
    settings: Settings,
    into: str,
    until: Until | None,
    durable: str | None,
    output: TextIO | None = None,
) -> Rebuild:
    """A replay of the whole stream into the empty database ``into``, saying how far it has
    come on ``output`` (a bar if it is a terminal, log lines otherwise; none without)."""
    store = MongoStore.open(settings.mongo_url, into)
    try:
        if not await store.is_empty():
            raise ValueError(f"database {into!r} already holds read models; rebuild needs it empty")
        source, extent = await JetStreamSource.open_replay(
            settings.nats_url, settings.stream, durable
        )
    except BaseException:
        await store.close()
        raise
    try:
        await _ensure_indexes(store, settings)
    except BaseException:
        await source.close(discard=True)  # no half-made consumer left for a live projector
        await store.close()
        raise
    settings = settings.model_copy(update={"projector_durable": durable or "rebuild"})
    projector = _projector(settings, source, store, live=False)
    maintenance = _maintenance(settings, store, projector)
    progress = None if output is None else progress_output(output, SYSTEM_CLOCK)
    return Rebuild(
        projector, maintenance, source, store, extent=extent, until=until, progress=progress
    )
