from __future__ import annotations

import pytest
from tasktrail_collector.channels import event_pattern, routing_key

from tests.wire import recorded_messages


def test_the_pattern_matches_kombus_fanout_channels() -> None:
    assert event_pattern(0) == "/0.celeryev/*"
    assert event_pattern(3, keyprefix="app:") == "app:/3.celeryev/*"


def test_every_recorded_channel_yields_its_routing_key() -> None:
    keys = {routing_key(m.channel) for m in recorded_messages()}
    assert keys == {
        "task.multi",
        "task.sent",
        "worker.heartbeat",
        "worker.online",
        "worker.offline",
    }


@pytest.mark.parametrize("channel", ["", "celeryev", "/0.celeryev/", "noslash"])
def test_channels_without_a_routing_key_are_recognised(channel: str) -> None:
    assert routing_key(channel) is None
