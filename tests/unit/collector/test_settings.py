"""The collector's dead-letter stream: the events' limits, its own name, subjects and size.

(That settings import no client library is an import-linter contract, see pyproject.toml.)
"""

from __future__ import annotations

from tasktrail_collector.settings import Settings
from tasktrail_shared.nats import stream_config


def test_the_deadletter_stream_has_its_own_name_subjects_and_size() -> None:
    settings = Settings(stream_max_age_days=7, stream_replicas=3, collector_deadletter_max_bytes=5)
    events, dead = settings.stream_settings(), settings.deadletter_stream_settings()
    assert (dead.name, dead.subjects, dead.max_bytes) == (
        "TASKTRAIL_DEADLETTER",
        ("tasktrail.deadletter.>",),
        5,
    )
    assert (dead.max_age_days, dead.replicas) == (events.max_age_days, events.replicas) == (7, 3)
    config = stream_config(dead)
    assert config.duplicate_window == 120 and config.num_replicas == 3
