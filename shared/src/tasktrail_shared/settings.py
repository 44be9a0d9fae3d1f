"""Settings every service reads from the environment (prefix ``TASKTRAIL_``).

Each service subclasses :class:`CommonSettings` and adds its own fields, named after the
service (``collector_health_port`` is read from ``TASKTRAIL_COLLECTOR_HEALTH_PORT``), so one
prefix covers the whole system and no two services can collide.

Settings are plain values and import no client library: :class:`StreamSettings` says what a
stream should be, and the NATS adapter (:func:`tasktrail_shared.nats.stream_config`) turns it
into nats-py's configuration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from tasktrail_shared.stream_message import all_subjects


@dataclass(frozen=True, slots=True)
class StreamSettings:
    """What a JetStream stream should be, as far as settings decide it.

    Storage, retention policy, compression and the duplicate window are the same for every
    stream of the system and are fixed by the adapter.
    """

    name: str
    subjects: tuple[str, ...] = (all_subjects(),)
    max_age_days: float = 30
    max_bytes: int = -1
    """-1: no limit."""
    replicas: int = 1


APP_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class CommonSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TASKTRAIL_", extra="ignore")

    app: str = "default"
    """Cluster name; it is a NATS subject token, so letters, digits, ``-`` and ``_`` only."""
    broker_url: str = "redis://127.0.0.1:6379/0"
    result_backend: str | None = None
    nats_url: str = "nats://127.0.0.1:4222"
    mongo_url: str = "mongodb://127.0.0.1:27017/?directConnection=true"
    mongo_db: str = "tasktrail"
    stream: str = "TASKTRAIL"
    stream_max_age_days: float = 30
    stream_max_bytes: int = -1
    stream_replicas: int = 1
    log_level: str = "INFO"

    @field_validator("app")
    @classmethod
    def _app_is_a_subject_token(cls, value: str) -> str:
        if not APP_NAME.match(value):
            raise ValueError("TASKTRAIL_APP must match [A-Za-z0-9_-]{1,64}")
        return value

    def stream_settings(self) -> StreamSettings:
        """The event stream (``tasktrail.events.>``) every service creates or updates alike."""
        return StreamSettings(
            self.stream,
            max_age_days=self.stream_max_age_days,
            max_bytes=self.stream_max_bytes,
            replicas=self.stream_replicas,
        )
