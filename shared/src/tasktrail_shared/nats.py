"""NATS/JetStream adapter: connect, and create or update the event stream."""

from __future__ import annotations

import logging

from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StoreCompression,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from tasktrail_shared.settings import StreamSettings

log = logging.getLogger(__name__)

DAY = 24 * 3600


async def connect(url: str, name: str, client: Client | None = None) -> Client:
    """Connect ``client`` (a new nats-py client unless given), retrying forever in the
    background after the first success.

    ``url`` may list several servers separated by commas (a cluster's seed list).
    """
    nc = client if client is not None else Client()
    await nc.connect(
        [server.strip() for server in url.split(",") if server.strip()],
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,  # type: ignore[arg-type]  # annotated int, used as seconds
        connect_timeout=5,
        allow_reconnect=True,
    )
    return nc


DUPLICATE_WINDOW = 120
"""Seconds JetStream remembers a ``Nats-Msg-Id``: a re-publish within them is dropped."""


def stream_config(stream: StreamSettings) -> StreamConfig:
    """nats-py's configuration of ``stream``: file storage, limits retention, S2 compression."""
    return StreamConfig(
        name=stream.name,
        subjects=list(stream.subjects),
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=stream.max_age_days * DAY,
        max_bytes=stream.max_bytes,
        duplicate_window=DUPLICATE_WINDOW,
        num_replicas=stream.replicas,
        compression=StoreCompression.S2,
    )


async def ensure_stream(js: JetStreamContext, stream: StreamSettings) -> None:
    """Create the stream, or bring an existing one in line with ``stream``."""
    config = stream_config(stream)
    try:
        await js.stream_info(stream.name)
    except NotFoundError:
        await js.add_stream(config)
        log.info("created stream %s", stream.name)
        return
    await js.update_stream(config)
