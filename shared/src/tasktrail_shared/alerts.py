"""Alerts: the contract between the API (which manages channels, rules and silences) and the
notifier (which evaluates the rules, opens and resolves incidents and delivers notifications).

Configuration (channels, rules, silences) lives in MongoDB collections the API writes, like
tokens: a channel's configuration holds secrets (a webhook's signing secret, a bot token, a
PagerDuty routing key) that must not be copied into the log. Each change is also an event in
the log (``tasktrail.alert.{channel,rule,silence}.*``) with the secrets left out, for audit.
Incidents and every delivery attempt are events the notifier writes
(``tasktrail.alert.incident.*``, ``tasktrail.alert.delivery.attempted``), and documents of
its own collections that the API reads. Pure: models and names only.
"""

from __future__ import annotations

import fnmatch
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from tasktrail_shared.models import ClosedModel
from tasktrail_shared.settings import APP_NAME

# --- collections --------------------------------------------------------------------------

ALERT_CHANNELS = "alert_channels"
"""Channels by id: organisation, name, type, configuration (with its secrets), and whether
the notifier disabled it after a permanent error (``disabled``: why and when)."""
ALERT_RULES = "alert_rules"
ALERT_SILENCES = "alert_silences"
ALERT_INCIDENTS = "alert_incidents"
"""Written by the notifier: one document per incident (deterministic id)."""
ALERT_DELIVERIES = "alert_deliveries"
"""Written by the notifier: one document per notification sent to one channel."""
ALERT_COLLECTIONS = (ALERT_CHANNELS, ALERT_RULES, ALERT_SILENCES, ALERT_INCIDENTS, ALERT_DELIVERIES)
"""Every alert collection: the API and the notifier each create them on first use."""

# --- event types ----------------------------------------------------------------------------

CHANNEL_CREATED = "tasktrail.alert.channel.created"
CHANNEL_DELETED = "tasktrail.alert.channel.deleted"
RULE_CREATED = "tasktrail.alert.rule.created"
RULE_DELETED = "tasktrail.alert.rule.deleted"
SILENCE_CREATED = "tasktrail.alert.silence.created"
SILENCE_DELETED = "tasktrail.alert.silence.deleted"
INCIDENT_OPENED = "tasktrail.alert.incident.opened"
INCIDENT_RESOLVED = "tasktrail.alert.incident.resolved"
DELIVERY_ATTEMPTED = "tasktrail.alert.delivery.attempted"
"""One per attempt to send one notification to one channel: outcome, response code, retry."""

TEST_SUBJECT = "tasktrail.notifier.test"
"""NATS request/reply: the API asks a notifier to send a synthetic incident through a channel
(``{"channel": id}``), answered with a :class:`TestOutcome`."""
NOTIFIER_QUEUE_GROUP = "tasktrail-notifier"

# --- channels -------------------------------------------------------------------------------

ChannelType = Literal["webhook", "email", "slack", "telegram", "pagerduty", "teams"]
CHANNEL_TYPES: tuple[str, ...] = ("webhook", "email", "slack", "telegram", "pagerduty", "teams")
Url = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2000)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=500)]


class WebhookConfig(ClosedModel):
    url: Url
    secret: Text = Field(description="Signs each body: X-Tasktrail-Signature, HMAC-SHA256")


class EmailConfig(ClosedModel):
    host: Text
    port: int = Field(default=587, ge=1, le=65535)
    starttls: bool = True
    tls_ca: Annotated[str, StringConstraints(min_length=1, max_length=50_000)] | None = Field(
        default=None, description="PEM certificates to trust besides the system's (STARTTLS)"
    )
    tls_verify: bool = Field(
        default=True, description="false: accept any certificate (say so explicitly)"
    )
    username: Text | None = None
    password: Text | None = None
    sender: Text
    to: list[Text] = Field(min_length=1, max_length=100)
    group_window: float = Field(
        default=0,
        ge=0,
        le=3600,
        description="Seconds after a mail during which notifications wait to go in one mail",
    )


class SlackConfig(ClosedModel):
    url: Url = Field(description="The incoming webhook's URL")


class TelegramConfig(ClosedModel):
    token: Text = Field(description="The bot's token")
    chat_id: Annotated[str, StringConstraints(min_length=1, max_length=100)] | int
    base_url: Url = "https://api.telegram.org"


class PagerDutyConfig(ClosedModel):
    routing_key: Text
    url: Url = "https://events.pagerduty.com/v2/enqueue"
    severity: Literal["critical", "error", "warning", "info"] = "error"


class TeamsConfig(ClosedModel):
    url: Url = Field(description="The workflow's webhook URL")


CHANNEL_CONFIGS: dict[str, type[ClosedModel]] = {
    "webhook": WebhookConfig,
    "email": EmailConfig,
    "slack": SlackConfig,
    "telegram": TelegramConfig,
    "pagerduty": PagerDutyConfig,
    "teams": TeamsConfig,
}
SECRETS: dict[str, frozenset[str]] = {
    "webhook": frozenset({"secret"}),
    "email": frozenset({"password"}),
    "slack": frozenset({"url"}),
    "telegram": frozenset({"token"}),
    "pagerduty": frozenset({"routing_key"}),
    "teams": frozenset({"url"}),
}
"""Configuration fields that grant access (a Slack or Teams webhook URL is its own secret):
never in the log, shown masked by the API."""
MASK = "********"


def channel_config(channel_type: str, config: Any) -> dict[str, Any]:
    """``config`` checked against the type's model, as stored; ``ValueError`` if invalid."""
    model = CHANNEL_CONFIGS.get(channel_type)
    if model is None:
        raise ValueError(f"type must be one of {', '.join(CHANNEL_TYPES)}")
    return model.model_validate(config).model_dump(mode="json")


def masked(channel_type: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with its secrets replaced by :data:`MASK`: what the log and the API show."""
    hidden = SECRETS.get(channel_type, frozenset())
    return {k: (MASK if k in hidden and v is not None else v) for k, v in config.items()}


# --- rules ----------------------------------------------------------------------------------

RuleKind = Literal[
    "task_failed",
    "failure_rate",
    "runtime",
    "stalled",
    "worker_offline",
    "queue_length",
    "schedule_missed",
    "cluster_silent",
]
EVALUATED_KINDS: tuple[str, ...] = (
    "task_failed",
    "failure_rate",
    "runtime",
    "stalled",
    "worker_offline",
    "schedule_missed",
    "queue_length",
    "cluster_silent",
)
"""The kinds the notifier evaluates (every kind a rule may name)."""
Pattern = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Seconds = Annotated[float, Field(gt=0, le=30 * 24 * 3600)]


class RuleFilter(ClosedModel):
    """Which tasks or workers a rule watches; every given part must match. Patterns are
    globs (``*``, ``?``, ``[...]``), matched case-sensitively."""

    name: Pattern | None = Field(default=None, description="task name pattern")
    exclude: list[Pattern] = Field(default_factory=list, max_length=50)
    queue: Pattern | None = None
    worker: Pattern | None = Field(default=None, description="worker hostname pattern")

    def admits_task(self, name: str | None, queue: str | None, worker: str | None) -> bool:
        if self.name is not None and not _glob(name, self.name):
            return False
        if any(_glob(name, pattern) for pattern in self.exclude):
            return False
        if self.queue is not None and not _glob(queue, self.queue):
            return False
        return self.worker is None or _glob(worker, self.worker)

    def admits_worker(self, hostname: str) -> bool:
        return self.worker is None or _glob(hostname, self.worker)


def _glob(value: str | None, pattern: str) -> bool:
    return value is not None and fnmatch.fnmatchcase(value, pattern)


class TaskFailedParams(ClosedModel):
    exception: Pattern | None = Field(
        default=None, description="glob over the exception's repr, e.g. 'ValueError*'"
    )


class FailureRateParams(ClosedModel):
    window: Seconds = 300
    percent: float = Field(gt=0, le=100)
    min_count: int = Field(default=10, ge=1)


class RuntimeParams(ClosedModel):
    seconds: Seconds


class StalledParams(ClosedModel):
    seconds: Seconds = Field(description="started and not finished for this long")


class WorkerOfflineParams(ClosedModel):
    seconds: float = Field(default=0, ge=0, le=30 * 24 * 3600)


class ClusterSilentParams(ClosedModel):
    seconds: Seconds


class ScheduleMissedParams(ClosedModel):
    """A scheduled job (seed 002) whose run is missed, as the projector's schedule sweep
    judges it; the rule's ``filter.name`` and ``exclude`` match the job's task name (its
    ``job_id`` when no report named the task)."""

    late: bool = Field(default=False, description="also while late, before it is missed")
    scheduler: Pattern | None = Field(default=None, description="scheduler alias pattern")
    job: Pattern | None = Field(default=None, description="job id pattern")


class QueueLengthParams(ClosedModel):
    """Holds while a queue's measured depth is above ``threshold``; the rule's ``for`` says
    for how long before an incident opens (``filter.queue`` picks the queues)."""

    threshold: int = Field(ge=0, description="messages waiting, above which it holds")


RULE_PARAMS: dict[str, type[ClosedModel]] = {
    "task_failed": TaskFailedParams,
    "failure_rate": FailureRateParams,
    "runtime": RuntimeParams,
    "stalled": StalledParams,
    "worker_offline": WorkerOfflineParams,
    "schedule_missed": ScheduleMissedParams,
    "queue_length": QueueLengthParams,
    "cluster_silent": ClusterSilentParams,
}


class RuleSpec(ClosedModel):
    """A rule as the API takes it and the notifier reads it (the stored document adds ``id``,
    ``org``, ``created`` and ``actor``)."""

    model_config = ConfigDict(populate_by_name=True)

    name: Text
    kind: RuleKind
    filter: RuleFilter = Field(default_factory=RuleFilter)
    params: dict[str, Any] = Field(default_factory=dict)
    channels: list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] = Field(
        default_factory=list, max_length=20
    )
    app: Annotated[str, StringConstraints(pattern=APP_NAME.pattern)] | None = Field(
        default=None, description="Only this cluster; absent: every cluster of the organisation"
    )
    for_: float = Field(
        default=0, ge=0, le=30 * 24 * 3600, alias="for",
        description="Seconds the condition must hold before an incident opens",
    )  # fmt: skip
    renotify: float | None = Field(
        default=None, ge=60, le=30 * 24 * 3600, description="Seconds between reminders"
    )
    cooldown: float = Field(
        default=0, ge=0, le=30 * 24 * 3600,
        description="Seconds after a resolution before the same key may open a new incident",
    )  # fmt: skip

    @field_validator("kind")
    @classmethod
    def _evaluated(cls, kind: str) -> str:
        if kind not in EVALUATED_KINDS:
            raise ValueError(
                f"kind {kind!r} is not evaluated yet (try {', '.join(EVALUATED_KINDS)})"
            )
        return kind

    def checked_params(self) -> dict[str, Any]:
        """``params`` checked against the kind's model, defaults filled in."""
        return RULE_PARAMS[self.kind].model_validate(self.params).model_dump(mode="json")


class TestOutcome(BaseModel):
    """The answer to a "send test": whether the channel accepted it, and what it said."""

    __test__ = False  # not a pytest class
    ok: bool
    code: int | None = None
    error: str | None = None
    attempts: int = 0
