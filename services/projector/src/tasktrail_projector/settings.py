"""Projector settings: the common ones plus ``TASKTRAIL_PROJECTOR_*``."""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator
from tasktrail_shared.counts import LABEL_VALUES
from tasktrail_shared.fields import is_label_name
from tasktrail_shared.models import ClosedModel
from tasktrail_shared.settings import CommonSettings

from tasktrail_projector.domain.labels import Rule


class LabelRule(ClosedModel):
    """One label rule, e.g. ``{"label": "cidr_id", "task": "scan.tasks.*", "arg": 0}``."""

    label: str
    task: str = Field(default="*", min_length=1, description="glob on the task name")
    arg: int | str | None = Field(default=None, description='position, or path "1.0.packet"')
    kwarg: str | None = Field(default=None, description='name, or path "asn.number"')

    @field_validator("label")
    @classmethod
    def _not_a_task_field(cls, value: str) -> str:
        if not is_label_name(value):
            raise ValueError(
                f"{value[:64]!r}: a label name is a letter, then letters, digits or _ "
                "(64 at most), and not the name of a task field"
            )
        return value

    @model_validator(mode="after")
    def _one_source(self) -> LabelRule:
        self.rule()  # raises ValueError with the reason
        return self

    def rule(self) -> Rule:
        return Rule.parse(self.label, self.task, arg=self.arg, kwarg=self.kwarg)


class Settings(CommonSettings):
    projector_health_host: str = "127.0.0.1"
    projector_health_port: int = 8002
    """0 turns the health endpoint off."""
    projector_durable: str = "projector"
    """Durable consumer name; replicas sharing it share the work."""
    projector_batch_size: int = Field(default=500, ge=1, le=10_000)
    projector_fetch_timeout: float = Field(default=0.25, gt=0)
    projector_sent_hold: float = Field(default=0.5, ge=0, le=5)
    """Seconds a client's task-sent may wait for the worker's events of the same task, so
    that one write covers both (worker events are never held); 0 turns it off."""
    projector_ack_wait: float = Field(default=30.0, gt=0)
    """Seconds before messages fetched but not acknowledged (a crashed replica's) come back;
    set when the durable consumer is created."""
    projector_cache_size: int = Field(default=5000, ge=0)
    """Documents kept in memory so that a task's later events need no read."""
    projector_labels: list[LabelRule] = Field(default_factory=list)
    """JSON list of label rules (see ``LabelRule``)."""
    projector_label_values: int = Field(default=LABEL_VALUES, ge=0, le=100_000)
    """Values of one label the counters keep per period; a label with more is counted by
    reading in lists (docs/decisions/0026)."""
    projector_task_ttl_days: float = Field(default=0, ge=0)
    """Finished tasks are deleted this long after they finished; 0 keeps them."""
    projector_event_ttl_days: float = Field(default=0, ge=0)
    """Task history entries are deleted this long after their time; 0 keeps them."""
    projector_stats_window_days: float = Field(default=30, ge=0)
    """Minutes older than this (by their events' time) are final: the slot tallies they are
    summed from expire. Capped by the task TTL, since older tasks may be gone; 0 keeps
    every tally and recomputes any minute."""
    projector_stats_interval: float = Field(default=2.0, gt=0)
    """Seconds between recomputations of the stats and counters of the slots marked since."""
    projector_lost_interval: float = Field(default=2.0, gt=0)
    projector_schedule_interval: float = Field(default=1.0, gt=0)
    """Seconds between judgements of scheduled jobs' health (late, missed, unresponsive)."""

    def stats_window(self) -> float:
        """The stats window in days, capped by the task TTL (0: unbounded)."""
        windows = [d for d in (self.projector_stats_window_days, self.projector_task_ttl_days) if d]
        return min(windows) if windows else 0.0

    def label_rules(self) -> list[Rule]:
        return [rule.rule() for rule in self.projector_labels]

    def label_names(self) -> list[str]:
        return sorted({rule.label for rule in self.projector_labels})
