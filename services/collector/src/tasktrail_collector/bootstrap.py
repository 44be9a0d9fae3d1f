"""The collector's composition root: settings in, a wired :class:`Collector` out."""

from __future__ import annotations

from tasktrail_shared.nats import connect

from tasktrail_collector.adapters.disk_spool import DiskSpool
from tasktrail_collector.adapters.jetstream_sink import JetStreamPublisher, PublishingClient
from tasktrail_collector.outbox import Outbox
from tasktrail_collector.service import Collector, Source
from tasktrail_collector.settings import Settings
from tasktrail_collector.stats import Counters

REDIS_SCHEMES = ("redis", "rediss", "unix", "redis+socket", "socket", "sentinel")
HEADER_ROOM = 4096
"""Headers of a message stay under this; the body limit leaves it free in max_payload."""


def make_source(settings: Settings) -> Source:
    scheme = settings.broker_url.split("://", 1)[0].lower()
    if scheme in REDIS_SCHEMES:
        from tasktrail_collector.adapters.redis_source import RedisEventSource

        return RedisEventSource(settings.broker_url, settings.collector_sentinel_master)
    from tasktrail_collector.adapters.kombu_source import KombuEventSource, QueueOptions, check_url

    check_url(settings.broker_url)
    return KombuEventSource(
        settings.broker_url,
        QueueOptions(
            name=settings.queue_name(),
            message_ttl=settings.collector_queue_message_ttl,
            expires=settings.collector_queue_expires,
            max_length=settings.collector_queue_max_length,
            prefetch=settings.collector_prefetch,
        ),
    )


async def bootstrap(settings: Settings) -> Collector:
    source = make_source(settings)
    counters = Counters()
    spool = DiskSpool(settings.spool_path(), settings.collector_spool_segment_bytes)
    outbox = Outbox(settings.collector_memory_buffer_bytes, spool)
    try:
        nc = PublishingClient()
        await connect(settings.nats_url, "tasktrail-collector", nc)
    except BaseException:
        spool.close()
        raise
    collector = Collector(
        settings.app,
        source,
        outbox,
        counters,
        max_message_bytes=min(settings.collector_max_message_bytes, nc.max_payload - HEADER_ROOM),
        validate_every=settings.collector_validate_every,
        drain_timeout=settings.collector_drain_timeout,
    )
    collector.publisher = JetStreamPublisher(
        nc,
        outbox,
        counters,
        streams=[settings.stream_settings(), settings.deadletter_stream_settings()],
        max_in_flight=settings.collector_max_in_flight,
        ack_timeout=settings.collector_ack_timeout,
        reject=collector.refused,
    )
    return collector
