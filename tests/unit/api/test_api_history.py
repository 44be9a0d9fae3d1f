"""History conditions: the MongoDB queries of the audit lists and the same conditions
applied in Python to exported entries."""

from __future__ import annotations

from datetime import UTC, datetime

from tasktrail_api.domain import filters, history, matcher
from tasktrail_api.domain.scope import EVERYTHING

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def test_history_conditions() -> None:
    given = filters.EventFilters.model_validate(
        {"type": "tasktrail.command.*", "actor": "oncall", "before": "2024-01-01T00:00:00Z"}
    )
    message, entry = history.event_queries(given, EVERYTHING, uuid="t1")
    assert message == {
        "uuids": "t1",
        "events.type": {"$gte": "tasktrail.command.", "$lt": "tasktrail.command.\U0010ffff"},
        "events.event.actor": "oncall",
        "timestamp": {"$lt": NOW},
    }
    assert entry["events.uuid"] == "t1" and entry["events.timestamp"] == {"$lt": NOW}
    hit = {
        "uuid": "t1",
        "type": "tasktrail.command.completed",
        "timestamp": datetime(2023, 1, 1, tzinfo=UTC),
        "event": {"actor": "oncall"},
    }
    assert matcher.entry_matches(hit, entry)
    assert not matcher.entry_matches({**hit, "type": "task-sent"}, entry)
    assert not matcher.entry_matches({**hit, "event": {}}, entry)
    assert not matcher.entry_matches({**hit, "timestamp": NOW}, entry)
