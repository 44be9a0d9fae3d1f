"""API settings: the common ones plus ``TASKTRAIL_API_*`` and the admin bootstrap token."""

from pydantic import Field, model_validator
from tasktrail_shared.settings import CommonSettings

from tasktrail_api.domain.shapes import COUNT_BOUND


class Settings(CommonSettings):
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    admin_token: str | None = None
    """``TASKTRAIL_ADMIN_TOKEN``: an admin token that works from start-up."""
    api_command_timeout: float = Field(default=5.0, gt=0)
    api_alert_test_timeout: float = Field(default=60.0, gt=0)
    """Seconds a "send test" waits for a notifier (it retries a failing channel with backoff)."""
    """Seconds to wait for the control service to answer a command."""
    api_worker_timeout: float = Field(default=2.0, gt=0, le=60)
    """Seconds control waits for worker replies; must leave control time to answer us."""
    api_read_timeout: float = Field(default=10.0, gt=0)
    """Seconds a MongoDB read may take (server selection included) before a 503."""
    api_ready_timeout: float = Field(default=2.0, gt=0)
    """Seconds ``/readyz`` waits for MongoDB before calling the API not ready."""
    api_write_wait: float = Field(default=5.0, ge=0, le=60)
    """Seconds a write waits for the projector to apply it before answering 202."""
    api_count_bound: int = Field(default=COUNT_BOUND, ge=1, le=1_000_000)
    """A list the counters cannot total is counted this far; past it ``count`` is this
    bound and ``count_is_exact`` false."""
    api_metrics_token: bool = True
    """Whether ``/metrics`` needs a token (a viewer's, which sees its organisation's clusters);
    false: anyone who reaches the API reads every cluster's metrics."""
    api_metrics_label_limit: int = Field(default=100, ge=1, le=100_000)
    """Task names, and workers, that keep their own label in ``/metrics``; the least busy
    beyond are folded into ``other``."""
    api_max_body: int = Field(default=1024 * 1024, ge=1024)
    """Largest request body in bytes (413 beyond)."""
    api_sync_chunk: int = Field(default=1000, ge=1, le=10_000)
    """Task ids per ``sync`` command sent to control."""
    api_sync_max: int = Field(default=100_000, ge=1)
    """Most unfinished tasks one ``GET /monitor/tasks/sync`` looks up."""

    ui_session_key: str | None = Field(default=None, min_length=32)
    """``TASKTRAIL_UI_SESSION_KEY``: signs web sessions; give every API replica the same one.
    Unset: a random key per process, so sessions end when it restarts."""
    ui_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    """Hours a web session lasts after login."""
    ui_push_interval: float = Field(default=0.25, ge=0.01, le=10)
    """Seconds between two live pushes to a browser (changes in between are coalesced)."""

    @model_validator(mode="after")
    def _worker_timeout_fits(self) -> "Settings":
        if self.api_worker_timeout >= self.api_command_timeout:
            raise ValueError(
                "TASKTRAIL_API_WORKER_TIMEOUT must be below TASKTRAIL_API_COMMAND_TIMEOUT"
            )
        return self
