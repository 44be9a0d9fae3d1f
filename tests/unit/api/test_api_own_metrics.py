"""tasktrail's own figures on ``/metrics``: the lag is the stream's last sequence less each
consumer's position, commands count by outcome with their latency as a histogram, alert
deliveries count by settled outcome, and a scope that does not see the install gets no
install-wide figure. The aggregation pipelines run on a real server in the integration test
of the restart."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families
from tasktrail_api.domain.own_metrics import COMMAND_EDGES, Pipeline, own_exposition

COMMANDS: list[dict[str, Any]] = [
    {"_id": {"app": "c1", "command": "ping", "ok": True}, "n": 3, "ms": 45.0,
     **{f"le{i}": (1 if edge < 0.02 else 3) for i, edge in enumerate(COMMAND_EDGES)}},
    {"_id": {"app": "c1", "command": "revoke", "ok": False}, "n": 1, "ms": 2000.0,
     **{f"le{i}": int(edge >= 2) for i, edge in enumerate(COMMAND_EDGES)}},
]  # fmt: skip
DELIVERIES: list[dict[str, Any]] = [
    {"_id": {"app": "c1", "state": "delivered"}, "n": 4},
    {"_id": {"app": "c1", "state": "failed"}, "n": 1},
    {"_id": {"app": "c1", "state": "pending"}, "n": 2},
    {"_id": {"app": "c1", "state": "sending"}, "n": 1},
]


def families(text: str) -> dict[str, Any]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def value(family: Any, name: str, **labels: str) -> float:
    (found,) = [s.value for s in family.samples if s.name == name and s.labels == labels]
    return float(found)


def test_the_lag_is_the_stream_s_last_sequence_less_each_position() -> None:
    pipeline = Pipeline(
        last_sequence=120, positions={"projector": 100, "other": 125}, dead_letters=2
    )
    found = families(own_exposition(pipeline, [], []))
    lag = found["tasktrail_ingest_lag_messages"]
    assert lag.type == "gauge"
    assert value(lag, lag.name, consumer="projector") == 20
    assert value(lag, lag.name, consumer="other") == 0  # ahead of a stale stream read: no lag
    projected = found["tasktrail_projected_messages"]
    assert projected.type == "counter"
    assert value(projected, "tasktrail_projected_messages_total", consumer="projector") == 100
    assert value(found["tasktrail_stream_messages"], "tasktrail_stream_messages_total") == 120
    assert value(found["tasktrail_dead_letters"], "tasktrail_dead_letters_total") == 2


def test_without_the_stream_there_is_no_lag_but_the_positions_stay() -> None:
    found = families(own_exposition(Pipeline(None, {"projector": 9}, 0), [], []))
    assert "tasktrail_ingest_lag_messages" not in found
    assert "tasktrail_stream_messages" not in found
    assert "tasktrail_projected_messages" in found


def test_commands_count_by_outcome_with_a_latency_histogram() -> None:
    found = families(own_exposition(None, COMMANDS, []))
    assert "tasktrail_dead_letters" not in found and "tasktrail_projected_messages" not in found
    commands = found["tasktrail_commands"]
    assert commands.type == "counter"
    ping = {"app": "c1", "command": "ping", "outcome": "ok"}
    revoke = {"app": "c1", "command": "revoke", "outcome": "error"}
    assert value(commands, "tasktrail_commands_total", **ping) == 3
    assert value(commands, "tasktrail_commands_total", **revoke) == 1
    latency = found["tasktrail_command_duration_seconds"]
    assert latency.type == "histogram"
    name = "tasktrail_command_duration_seconds"
    assert value(latency, f"{name}_bucket", **ping, le="0.01") == 1
    assert value(latency, f"{name}_bucket", **ping, le="0.025") == 3
    assert value(latency, f"{name}_bucket", **revoke, le="1.0") == 0
    assert value(latency, f"{name}_bucket", **revoke, le="2.5") == 1
    assert value(latency, f"{name}_bucket", **revoke, le="+Inf") == 1
    assert value(latency, f"{name}_sum", **ping) == 0.045
    assert value(latency, f"{name}_count", **ping) == 3


def test_alert_deliveries_count_by_settled_outcome_and_wait_apart() -> None:
    found = families(own_exposition(None, [], DELIVERIES))
    settled = found["tasktrail_alert_deliveries"]
    assert settled.type == "counter"
    assert value(settled, "tasktrail_alert_deliveries_total", app="c1", outcome="delivered") == 4
    assert value(settled, "tasktrail_alert_deliveries_total", app="c1", outcome="failed") == 1
    assert len(settled.samples) == 2
    waiting = found["tasktrail_alert_deliveries_waiting"]
    assert value(waiting, "tasktrail_alert_deliveries_waiting", app="c1") == 3
