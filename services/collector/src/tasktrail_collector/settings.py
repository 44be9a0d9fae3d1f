"""Collector settings: the common ones plus ``TASKTRAIL_COLLECTOR_*``."""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from tasktrail_shared.settings import CommonSettings, StreamSettings

from tasktrail_collector.encoding import DEADLETTER_ROOT

MIB = 1024 * 1024


class Settings(CommonSettings):
    collector_health_host: str = "127.0.0.1"
    collector_health_port: int = 8001
    """0 turns the health endpoint off."""
    collector_max_in_flight: int = 4096
    """Publishes awaiting a JetStream ack; past it, messages wait in the outbox."""
    collector_ack_timeout: float = 5.0
    """A publish unacknowledged this long (seconds) is sent again."""
    collector_memory_buffer_bytes: int = 64 * MIB
    """Bytes of messages held in memory while NATS lags; beyond this they go to the disk spool."""
    collector_spool_dir: str = ""
    """Disk spool; default ``<tmp>/tasktrail-collector-<app>``. One directory per replica."""
    collector_spool_segment_bytes: int = 8 * MIB
    collector_drain_timeout: float = 30.0
    """On SIGTERM, how long to keep publishing what is buffered before leaving it spooled."""
    collector_max_message_bytes: int = MIB
    """Larger broker messages are dead-lettered (capped below the server's max_payload)."""
    collector_validate_every: int = 64
    """Fully validate one message in N (1: all, 0: none); the others get the cheap checks."""
    collector_sentinel_master: str = "mymaster"
    """Master name for ``sentinel://`` broker URLs (kombu's ``master_name``)."""
    collector_queue: str = ""
    """AMQP (and other kombu) brokers: the durable queue; default ``tasktrail.collector.<app>``."""
    collector_queue_message_ttl: float | None = 86400.0
    """Seconds an event may wait in the queue (x-message-ttl); None: no limit."""
    collector_queue_expires: float | None = None
    """Seconds without consumers before the broker deletes the queue (x-expires)."""
    collector_queue_max_length: int | None = None
    """Events the queue holds at most (x-max-length; the oldest are dropped)."""
    collector_prefetch: int = 2000
    """AMQP messages delivered but not yet acknowledged (acked once JetStream has them)."""
    collector_deadletter_stream: str = "TASKTRAIL_DEADLETTER"
    collector_deadletter_max_bytes: int = 256 * MIB

    def spool_path(self) -> Path:
        if self.collector_spool_dir:
            return Path(self.collector_spool_dir)
        return Path(tempfile.gettempdir()) / f"tasktrail-collector-{self.app}"

    def queue_name(self) -> str:
        return self.collector_queue or f"tasktrail.collector.{self.app}"

    def deadletter_stream_settings(self) -> StreamSettings:
        """Rejects, apart from the events (no projector reads them), with their own size cap."""
        return replace(
            self.stream_settings(),
            name=self.collector_deadletter_stream,
            subjects=(f"{DEADLETTER_ROOT}.>",),
            max_bytes=self.collector_deadletter_max_bytes,
        )
