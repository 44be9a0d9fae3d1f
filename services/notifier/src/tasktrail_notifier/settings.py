"""Notifier settings: the common ones plus ``TASKTRAIL_NOTIFIER_*``."""

from pydantic import Field
from tasktrail_shared.settings import CommonSettings


class Settings(CommonSettings):
    notifier_health_host: str = "127.0.0.1"
    notifier_health_port: int = 8004
    """0 turns the health endpoint off."""
    notifier_tick: float = Field(default=0.25, gt=0, le=10)
    """Seconds between evaluations of the rules (and looks for deliveries to make)."""
    notifier_config_max_age: float = Field(default=1.0, gt=0)
    """Seconds the rules, channels and silences read from MongoDB are used before reading again."""
    notifier_lookback: float = Field(default=3600.0, ge=0)
    """Seconds of the log read again at start-up (more if an open incident started earlier)."""
    notifier_lease: float = Field(default=60.0, gt=0)
    """Seconds a delivery stays claimed by one replica before another may take it over."""
    notifier_http_timeout: float = Field(default=10.0, gt=0)
    notifier_attempts: int = Field(default=5, ge=1, le=20)
    """Attempts per notification (the first included) on 429, 5xx and no answer."""
    notifier_backoff: float = Field(default=0.5, gt=0)
    """Seconds before the first retry; each next one waits twice as long (at most 30 s)."""
