"""The collector's settings are plain values; its dead-letter stream differs from the events'."""

from __future__ import annotations

from tasktrail_collector.settings import Settings
from tasktrail_shared.nats import stream_config

from tests.imports import client_libraries_imported_by


def test_collector_settings_import_no_client_library() -> None:
    assert client_libraries_imported_by("tasktrail_collector.settings") == []


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
