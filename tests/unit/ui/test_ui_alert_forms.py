"""The Alerts page's forms turned into what the alerts use cases take, and what its tables
print: JSON text areas, numbers as text, silences by span or exact time, rules muted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tasktrail_api.domain.errors import BadRequest
from tasktrail_api.ui.alert_forms import (
    channel_input,
    compact,
    json_object,
    muted_until,
    optional,
    rule_body,
    silence_until,
)

NOW = datetime(2030, 1, 31, 12, tzinfo=UTC)


def test_json_text_areas_hold_objects() -> None:
    assert json_object("", "params") == {} and json_object("  ", "params") == {}
    assert json_object('{"seconds": 30}', "params") == {"seconds": 30}
    for text, says in (("{seconds: 30}", "params: not JSON"), ("[1]", "params: a JSON object")):
        with pytest.raises(BadRequest) as refused:
            json_object(text, "params")
        assert refused.value.message.startswith(says)
    with pytest.raises(BadRequest, match="at most"):
        json_object('{"a": "' + "x" * 50_001 + '"}', "config")


def test_a_rule_body_keeps_only_what_was_given() -> None:
    form = {"name": " slow ", "kind": "runtime", "filter": '{"name": "b.*"}',
            "params": '{"seconds": 5}', "for": "10", "renotify": "", "app": ""}  # fmt: skip
    assert rule_body(form, ["c1"]) == {
        "name": "slow", "kind": "runtime", "filter": {"name": "b.*"},
        "params": {"seconds": 5}, "channels": ["c1"], "for": "10",
    }  # fmt: skip
    with pytest.raises(BadRequest, match="name"):
        rule_body({**form, "name": ""}, [])


def test_a_channel_input() -> None:
    form = {"name": "hook", "type": "webhook", "config": '{"url": "http://h", "secret": "s"}'}
    assert channel_input(form) == ("hook", "webhook", {"url": "http://h", "secret": "s"})


def test_a_silence_lasts_a_span_or_until_an_exact_time() -> None:
    assert silence_until({"duration": "4h"}, NOW) == NOW + timedelta(hours=4)
    exact = silence_until({"duration": "4h", "until": "2031-01-31T18:00+01:00"}, NOW)
    assert exact == datetime(2031, 1, 31, 17, tzinfo=UTC)
    for form in ({"duration": "forever"}, {"until": "2031-01-31T18:00"}, {"until": "soon"}):
        with pytest.raises(BadRequest):
            silence_until(form, NOW)


def test_optional_text() -> None:
    assert optional({"key": "  "}, "key") is None and optional({"key": " k "}, "key") == "k"
    with pytest.raises(BadRequest, match="key: at most 3"):
        optional({"key": "abcd"}, "key", 3)


def test_a_rule_is_muted_by_a_silence_of_the_whole_rule_in_force() -> None:
    later, latest = "2030-01-31T13:00:00.000Z", "2030-01-31T15:00:00.000Z"
    silences: list[dict[str, Any]] = [
        {"rule": "r1", "key": None, "until": later},
        {"rule": "r1", "key": None, "until": latest},
        {"rule": "r1", "key": None, "until": later},
        {"rule": "r2", "key": "billing.charge", "until": latest},  # one key only
        {"rule": "r3", "key": None, "until": "2030-01-31T11:00:00.000Z"},  # ended
        {"rule": None, "key": "k", "until": latest},
    ]
    assert muted_until(silences, NOW) == {"r1": latest}


def test_compact_leaves_out_what_is_unset() -> None:
    assert compact({"name": "b.*", "exclude": [], "queue": None}) == '{"name": "b.*"}'
    assert compact({"exception": None}) == "" and compact(None) == ""
