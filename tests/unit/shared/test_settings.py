from __future__ import annotations

import pytest
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StoreCompression, StreamConfig
from pydantic import ValidationError
from tasktrail_shared.nats import stream_config
from tasktrail_shared.settings import CommonSettings, StreamSettings


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKTRAIL_APP", "prod-eu")
    monkeypatch.setenv("TASKTRAIL_NATS_URL", "nats://127.0.0.1:1")
    monkeypatch.setenv("TASKTRAIL_STREAM_MAX_AGE_DAYS", "7")
    settings = CommonSettings()
    assert settings.app == "prod-eu"
    assert settings.nats_url == "nats://127.0.0.1:1"
    assert settings.stream_settings() == StreamSettings(
        "TASKTRAIL", ("tasktrail.events.>",), max_age_days=7, max_bytes=-1, replicas=1
    )


def test_the_adapter_builds_the_stream_the_settings_describe() -> None:
    settings = CommonSettings(stream="EVENTS", stream_max_bytes=10_000, stream_replicas=3)
    assert stream_config(settings.stream_settings()) == StreamConfig(
        name="EVENTS",
        subjects=["tasktrail.events.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=30 * 86400,
        max_bytes=10_000,
        duplicate_window=120,
        num_replicas=3,
        compression=StoreCompression.S2,
    )


def test_an_app_name_that_is_not_a_subject_token_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TASKTRAIL_APP", "a.b")
    with pytest.raises(ValidationError, match="TASKTRAIL_APP"):
        CommonSettings()
