"""NATS/JetStream adapter: connect, and create or update the event stream."""

from __future__ import annotations

import logging

import nats
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

from tasktrail_shared.stream_message import all_subjects

log = logging.getLogger(__name__)

DAY = 24 * 3600


async def connect(url: str, name: str) -> Client:
    """Connect, retrying forever in the background after the first success.

    ``url`` may list several servers separated by commas (a cluster's seed list).
    """
    return await nats.connect(
        [server.strip() for server in url.split(",") if server.strip()],
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        connect_timeout=5,
        allow_reconnect=True,
    )


def stream_config(
    name: str, *, max_age_days: float = 30, max_bytes: int = -1, replicas: int = 1
) -> StreamConfig:
    return StreamConfig(
        name=name,
        subjects=[all_subjects()],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=max_age_days * DAY,
        max_bytes=max_bytes,
        duplicate_window=120,
        num_replicas=replicas,
        compression=StoreCompression.S2,
    )


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or bring an existing one in line with ``config``."""
    try:
        await js.stream_info(config.name or "")
    except NotFoundError:
        await js.add_stream(config)
        log.info("created stream %s", config.name)
        return
    await js.update_stream(config)
