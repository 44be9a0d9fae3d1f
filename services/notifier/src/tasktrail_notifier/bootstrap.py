"""The notifier's composition root."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tasktrail_shared import mongo
from tasktrail_shared.nats import connect

from tasktrail_notifier.adapters.bus import NatsBus
from tasktrail_notifier.adapters.http import HttpTransport
from tasktrail_notifier.adapters.smtp import SmtpTransport
from tasktrail_notifier.adapters.store import MongoStore
from tasktrail_notifier.delivery import Channels, Deliverer
from tasktrail_notifier.domain.retry import Backoff
from tasktrail_notifier.evaluator import Evaluator
from tasktrail_notifier.service import Notifier
from tasktrail_notifier.settings import Settings
from tasktrail_notifier.trial import Trials


@dataclass
class Wired:
    notifier: Notifier
    bus: NatsBus
    store: MongoStore
    http: HttpTransport

    async def readiness(self) -> dict[str, bool]:
        try:
            stored = await self.store.ping()
        except Exception:
            stored = False
        return {"nats": self.bus.connected(), "mongo": stored}

    def counters(self) -> dict[str, int]:
        return self.notifier.counters()

    async def close(self) -> None:
        await self.bus.close()
        await self.http.close()


async def bootstrap(settings: Settings) -> Wired:
    client = mongo.client(settings.mongo_url)
    store = MongoStore(client[settings.mongo_db])
    await store.prepare()
    nc = await connect(settings.nats_url, name="tasktrail-notifier")
    bus = NatsBus(nc, settings.stream_settings())
    http = HttpTransport(settings.notifier_http_timeout)
    clock = time.time
    backoff = Backoff(attempts=settings.notifier_attempts, base=settings.notifier_backoff)
    channels = Channels(http, SmtpTransport(settings.notifier_http_timeout), clock, backoff)
    evaluator = Evaluator(store, bus, clock, config_max_age=settings.notifier_config_max_age)
    deliverer = Deliverer(store, bus, channels, clock, lease=settings.notifier_lease)
    notifier = Notifier(
        evaluator, deliverer, bus, Trials(store, channels, clock),
        tick=settings.notifier_tick, lookback=settings.notifier_lookback, clock=clock,
    )  # fmt: skip
    return Wired(notifier, bus, store, http)
