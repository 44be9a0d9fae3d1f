"""tasktrail's own figures on ``/metrics`` (``tasktrail_*``), from durable state only. Pure.

Like the Celery figures beside them (``domain.metrics``), each is read from the log or the
read models at the moment of the request, so every API replica answers the same and no
restart sets one back:

* the stream's last sequence and each projector consumer's saved position (the
  ``checkpoints`` document the projector writes with ``$max`` after each batch): the ingest
  lag is their difference, the projection rate ``rate()`` of the position;
* the dead letters the projector keeps (``dead_letters``, one per message it could not
  project, never deleted);
* the commands control recorded as ``tasktrail.command.completed`` (``task_events``), with
  the outcome and the time control took (``duration_ms`` of the reply);
* the alert deliveries the notifier settled (``alert_deliveries``), by outcome.

The install-wide figures (stream, positions, dead letters) belong to no cluster: they are
shown to a scope that sees everything. Commands and deliveries are per cluster (``app``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from tasktrail_shared.commands import COMPLETED
from tasktrail_shared.exposition import Buckets, Exposition, Labels

COMMAND_EDGES = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
"""Bounds of the command latency histogram (seconds): a ping answers in milliseconds, a
``sync`` of many tasks or a ``shutdown`` waiting for workers may take up to a minute."""
SETTLED = ("delivered", "failed", "silenced")
"""A delivery's outcomes: it stays in one once there (``pending``/``sending`` before)."""
WAITING = ("pending", "sending")

Query = dict[str, Any]
_ENTRY = "$events.event"


@dataclass(frozen=True, slots=True)
class Pipeline:
    """The install's ingestion as the log and the projector's checkpoints say."""

    last_sequence: int | None
    """The stream's last sequence; ``None`` while JetStream does not answer."""
    positions: Mapping[str, int]
    """The highest sequence each projector consumer has stored, by consumer name."""
    dead_letters: int


def command_totals(condition: Query) -> list[Query]:
    """Completed commands by cluster, command and success: count, summed milliseconds and
    the count at or under each of :data:`COMMAND_EDGES` (``le<i>``).

    A command naming several tasks is one message with one entry per task: its first
    entry (``index`` 0) stands for it.
    """
    ms = f"{_ENTRY}.outcome.duration_ms"
    group: Query = {
        "_id": {"app": "$app", "command": f"{_ENTRY}.command", "ok": f"{_ENTRY}.outcome.ok"},
        "n": {"$sum": 1},
        "ms": {"$sum": ms},
    }
    for i, edge in enumerate(COMMAND_EDGES):
        group[f"le{i}"] = {"$sum": {"$cond": [{"$lte": [ms, edge * 1000]}, 1, 0]}}
    return [
        {"$match": {"type": COMPLETED, **condition}},
        {"$unwind": "$events"},
        {"$match": {"events.index": 0, "events.type": COMPLETED}},
        {"$group": group},
    ]


def delivery_totals(condition: Query) -> list[Query]:
    """Alert deliveries by cluster and state."""
    return [
        {"$match": condition},
        {"$group": {"_id": {"app": "$app", "state": "$state"}, "n": {"$sum": 1}}},
    ]


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _pipeline(out: Exposition, pipeline: Pipeline) -> None:
    positions: dict[Labels, float] = {
        (("consumer", c),): float(seq) for c, seq in pipeline.positions.items()
    }
    out.family(
        "tasktrail_projected_messages",
        "counter",
        "Stream messages the projector has stored (its saved position): rate() is the "
        "projection rate.",
        positions,
    )
    if pipeline.last_sequence is not None:
        last = pipeline.last_sequence
        out.family(
            "tasktrail_stream_messages",
            "counter",
            "Messages appended to the event stream (its last sequence).",
            {(): float(last)},
        )
        lag: dict[Labels, float] = {k: max(0.0, last - seq) for k, seq in positions.items()}
        out.family(
            "tasktrail_ingest_lag_messages",
            "gauge",
            "Messages in the stream the projector has not stored yet.",
            lag,
        )
    out.family(
        "tasktrail_dead_letters",
        "counter",
        "Stream messages the projector could not project (kept in dead_letters).",
        {(): float(pipeline.dead_letters)},
    )


def _commands(out: Exposition, rows: Iterable[Mapping[str, Any]]) -> None:
    counted: dict[Labels, float] = {}
    latency: dict[Labels, Buckets] = {}
    for row in rows:
        key = row.get("_id") or {}
        app, command = str(key.get("app")), str(key.get("command"))
        outcome = "ok" if key.get("ok") is True else "error"
        labels: Labels = (("app", app), ("command", command), ("outcome", outcome))
        n = _number(row.get("n"))
        counted[labels] = counted.get(labels, 0.0) + n
        le = [(edge, _number(row.get(f"le{i}"))) for i, edge in enumerate(COMMAND_EDGES)]
        latency[labels] = Buckets(le, n, _number(row.get("ms")) / 1000)
    out.family("tasktrail_commands", "counter", "Commands control executed, by outcome.", counted)
    out.histogram(
        "tasktrail_command_duration_seconds",
        "Time control took to execute a command, from its record to its reply.",
        latency,
    )


def _deliveries(out: Exposition, rows: Iterable[Mapping[str, Any]]) -> None:
    settled: dict[Labels, float] = {}
    waiting: dict[Labels, float] = {}
    for row in rows:
        key = row.get("_id") or {}
        app, state = str(key.get("app") or ""), str(key.get("state"))
        if state in SETTLED:
            labels: Labels = (("app", app), ("outcome", state))
            settled[labels] = settled.get(labels, 0.0) + _number(row.get("n"))
        elif state in WAITING:
            waiting[(("app", app),)] = waiting.get((("app", app),), 0.0) + _number(row.get("n"))
    out.family(
        "tasktrail_alert_deliveries",
        "counter",
        "Notifications to a channel the notifier settled, by outcome.",
        settled,
    )
    out.family(
        "tasktrail_alert_deliveries_waiting",
        "gauge",
        "Notifications to a channel not settled yet (pending or being sent).",
        waiting,
    )


def own_exposition(
    pipeline: Pipeline | None,
    commands: Iterable[Mapping[str, Any]],
    deliveries: Iterable[Mapping[str, Any]],
) -> str:
    """The ``tasktrail_*`` families; ``pipeline`` ``None``: a scope that does not see them."""
    out = Exposition()
    if pipeline is not None:
        _pipeline(out, pipeline)
    _commands(out, commands)
    _deliveries(out, deliveries)
    return out.text()
