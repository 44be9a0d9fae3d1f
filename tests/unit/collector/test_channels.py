from __future__ import annotations

import fnmatch

from tasktrail_collector.channels import event_pattern

from tests.wire import recorded_messages


def test_the_pattern_matches_kombus_fanout_channels() -> None:
    assert event_pattern(0) == "/0.celeryev/*"
    assert event_pattern(3) == "/3.celeryev/*"


def test_every_recorded_channel_matches_the_pattern_of_its_database() -> None:
    channels = {m.channel for m in recorded_messages()}
    assert channels and all(fnmatch.fnmatchcase(c, event_pattern(0)) for c in channels)
