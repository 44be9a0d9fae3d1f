"""The composition root: settings and ports in, the use cases out.

The app's lifespan calls it with the MongoDB, JetStream and NATS adapters; unit tests call it
with in-memory fakes, so both run the same wiring.
"""

from __future__ import annotations

from dataclasses import dataclass

from tasktrail_api.settings import Settings
from tasktrail_api.usecases.alerts import Alerts, AlertStore, ChannelTester
from tasktrail_api.usecases.audit import Audit
from tasktrail_api.usecases.batch import Batch
from tasktrail_api.usecases.catalog import Catalog
from tasktrail_api.usecases.commands import Commands
from tasktrail_api.usecases.dashboard import Dashboard
from tasktrail_api.usecases.health import Health
from tasktrail_api.usecases.metrics import Metrics, ProcessFigures
from tasktrail_api.usecases.orgs import Orgs
from tasktrail_api.usecases.ports import (
    CatalogKeys,
    Clock,
    CommandSender,
    DurableFigures,
    EventPublisher,
    ReadModels,
    TokenStore,
)
from tasktrail_api.usecases.queues import Queues
from tasktrail_api.usecases.schedules import ScheduleReads, Schedules
from tasktrail_api.usecases.stats import Stats
from tasktrail_api.usecases.tasks import Tasks
from tasktrail_api.usecases.tokens import Tokens
from tasktrail_api.usecases.workers import Workers
from tasktrail_api.usecases.writes import Writes


@dataclass(frozen=True, slots=True)
class UseCases:
    tasks: Tasks
    workers: Workers
    writes: Writes
    commands: Commands
    audit: Audit
    dashboard: Dashboard
    tokens: Tokens
    health: Health
    catalog: Catalog
    orgs: Orgs
    stats: Stats
    batch: Batch
    alerts: Alerts
    schedules: Schedules
    queues: Queues
    metrics: Metrics


def bootstrap(
    settings: Settings,
    *,
    read_models: ReadModels,
    schedule_reads: ScheduleReads,
    token_store: TokenStore,
    catalog_keys: CatalogKeys,
    publisher: EventPublisher,
    sender: CommandSender,
    clock: Clock,
    alert_store: AlertStore | None = None,
    channel_tester: ChannelTester | None = None,
    figures: DurableFigures | None = None,
    process: ProcessFigures | None = None,
) -> UseCases:
    orgs = Orgs(
        read_models, publisher, clock, default_app=settings.app, wait=settings.api_write_wait
    )
    commands = Commands(sender, read_models, orgs, worker_timeout=settings.api_worker_timeout)
    tasks = Tasks(
        read_models,
        commands,
        clock,
        wait=settings.api_write_wait,
        sync_chunk=settings.api_sync_chunk,
        sync_max=settings.api_sync_max,
        count_bound=settings.api_count_bound,
    )
    workers = Workers(read_models, commands, orgs, clock)
    audit = Audit(read_models)
    catalog = Catalog(
        read_models, catalog_keys, publisher, commands, orgs, clock, wait=settings.api_write_wait
    )
    return UseCases(
        tasks=tasks,
        workers=workers,
        writes=Writes(read_models, publisher, clock, orgs, wait=settings.api_write_wait),
        commands=commands,
        audit=audit,
        dashboard=Dashboard(read_models, clock),
        tokens=Tokens(token_store, publisher, clock, orgs, admin_token=settings.admin_token),
        health=Health(read_models, sender, timeout=settings.api_ready_timeout),
        orgs=orgs,
        batch=Batch(tasks, workers, audit, commands, catalog),
        stats=Stats(read_models, clock),
        catalog=catalog,
        alerts=Alerts(alert_store, publisher, clock, channel_tester),
        schedules=Schedules(schedule_reads, publisher, clock, wait=settings.api_write_wait),
        queues=Queues(read_models, clock),
        metrics=Metrics(
            read_models,
            clock,
            needs_token=settings.api_metrics_token,
            label_limit=settings.api_metrics_label_limit,
            figures=figures,
            process=process,
        ),
    )
