"""Control settings: the common ones plus ``TASKTRAIL_CONTROL_*``."""

from pydantic import Field
from tasktrail_shared.settings import CommonSettings


class Settings(CommonSettings):
    control_health_host: str = "127.0.0.1"
    control_health_port: int = 8003
    """0 turns the health endpoint off."""
    control_grace: float = Field(default=3.0, gt=0)
    """Seconds a command may run beyond two rounds of worker replies (2 x the request's
    ``timeout``) before it is answered as failed."""
    control_commands_bucket: str = "tasktrail_commands"
    """JetStream key-value bucket remembering each command's reply, shared by all replicas."""
    control_commands_ttl: float = Field(default=24 * 3600, gt=0)
    """Seconds a reply is remembered: a request retried within it is not executed again."""
    control_queue_interval: float = Field(default=10.0, ge=0)
    """Seconds between two measurements of the cluster's queue depths (0: never measure)."""
    control_queues: str = "celery"
    """Comma-separated queues always measured, besides those the workers consume from and
    those the task documents name."""

    def configured_queues(self) -> list[str]:
        return [name.strip() for name in self.control_queues.split(",") if name.strip()]
