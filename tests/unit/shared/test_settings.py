from __future__ import annotations

import pytest
from pydantic import ValidationError
from tasktrail_shared.settings import CommonSettings


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKTRAIL_APP", "prod-eu")
    monkeypatch.setenv("TASKTRAIL_NATS_URL", "nats://127.0.0.1:1")
    settings = CommonSettings()
    assert settings.app == "prod-eu"
    assert settings.nats_url == "nats://127.0.0.1:1"
    assert settings.stream_config().duplicate_window == 120


def test_an_app_name_that_is_not_a_subject_token_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TASKTRAIL_APP", "a.b")
    with pytest.raises(ValidationError, match="TASKTRAIL_APP"):
        CommonSettings()
