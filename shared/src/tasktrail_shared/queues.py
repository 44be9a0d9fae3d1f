"""Queue depths: how many messages wait in each broker queue of a cluster, as measured
periodically by control and carried in the log.

Control measures each known queue of its cluster every ``TASKTRAIL_CONTROL_QUEUE_INTERVAL``
seconds and publishes one ``tasktrail.queue.measured`` event per round. Going through the
log (rather than writing a read model directly) keeps the projector's ``queue_depths`` read
model a pure function of the log, so a rebuild reproduces it, and lets the notifier evaluate
``queue_length`` rules from the same events every replica reads. Pure: models and names only.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, StrictFloat, StringConstraints

from tasktrail_shared.models import ClosedModel
from tasktrail_shared.times import is_epoch

QUEUE_MEASURED = "tasktrail.queue.measured"
"""One measuring round of one cluster: the depth of each queue at one moment."""

TREND_STEP = 60.0
"""Seconds per sample of a queue's trend: the latest depth measured in each minute."""
TREND_SAMPLES = 24 * 60
"""Samples a trend keeps: the last day of minutes."""
MAX_QUEUES = 1000
"""Queues one measurement names at most (a cluster with more is cut, alphabetically)."""

QueueName = Annotated[str, StringConstraints(min_length=1, max_length=255)]


def _epoch(at: float) -> float:
    if not is_epoch(at):
        raise ValueError(f"{at!r} is not a valid time (epoch seconds, years 1970 to 9999)")
    return at


class QueueMeasured(ClosedModel):
    """The payload of :data:`QUEUE_MEASURED`."""

    at: Annotated[StrictFloat, AfterValidator(_epoch)] = Field(
        description="epoch seconds when the queues were measured"
    )
    depths: dict[QueueName, Annotated[int, Field(ge=0)]] = Field(
        max_length=MAX_QUEUES, description="messages waiting, per queue"
    )


def measurement_id(app: str, at: float, interval: float) -> str:
    """The event id of ``app``'s round at ``at``: the same for every control replica measuring
    within one interval, so JetStream keeps the first and drops the others as duplicates."""
    slot = int(at // interval) if interval > 0 else int(at)
    return f"queues:{app}:{slot}"
