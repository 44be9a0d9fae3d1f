"""The control service's composition root."""

from __future__ import annotations

from dataclasses import dataclass

from tasktrail_shared.mongo import client as mongo_client
from tasktrail_shared.nats import connect

from tasktrail_control.adapters.bus import NatsBus
from tasktrail_control.adapters.celery_remote import CeleryRemote
from tasktrail_control.adapters.counted_queues import CountedQueues
from tasktrail_control.adapters.kv_ledger import KvLedger
from tasktrail_control.queue_sampler import QueueSampler
from tasktrail_control.service import Control
from tasktrail_control.settings import Settings


@dataclass
class Wired:
    control: Control
    bus: NatsBus
    remote: CeleryRemote
    sampler: QueueSampler
    counted: CountedQueues

    async def readiness(self) -> dict[str, bool]:
        return {"nats": self.bus.connected(), "broker": await self.remote.ready()}


async def bootstrap(settings: Settings) -> Wired:
    nc = await connect(settings.nats_url, name="tasktrail-control")
    bus = NatsBus(nc, settings.stream_settings())
    ledger = await KvLedger.open(
        nc.jetstream(),
        bucket=settings.control_commands_bucket,
        ttl=settings.control_commands_ttl,
        replicas=settings.stream_replicas,
        app=settings.app,
    )
    remote = CeleryRemote(settings.broker_url, settings.result_backend)
    control = Control(settings.app, remote, bus, ledger=ledger, grace=settings.control_grace)
    counted = CountedQueues(mongo_client(settings.mongo_url), settings.mongo_db, settings.app)
    sampler = QueueSampler(
        settings.app,
        remote,
        bus,
        interval=settings.control_queue_interval,
        configured=settings.configured_queues(),
        counted=counted,
        inspect_timeout=min(1.0, max(settings.control_queue_interval / 2, 0.1)),
    )
    return Wired(control, bus, remote, sampler, counted)
