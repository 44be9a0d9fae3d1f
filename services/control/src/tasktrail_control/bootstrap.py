"""The control service's composition root."""

from __future__ import annotations

from dataclasses import dataclass

from tasktrail_shared.nats import connect

from tasktrail_control.adapters.bus import NatsBus
from tasktrail_control.adapters.celery_remote import CeleryRemote
from tasktrail_control.adapters.kv_ledger import KvLedger
from tasktrail_control.service import Control
from tasktrail_control.settings import Settings


@dataclass
class Wired:
    control: Control
    bus: NatsBus
    remote: CeleryRemote

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
    return Wired(control, bus, remote)
