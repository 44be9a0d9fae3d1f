"""The ``queue_depths`` read model: per cluster and queue, the latest depth measured and a
per-minute trend, folded from ``tasktrail.queue.measured`` events. Pure.

A document is a pure function of the set of measurements of its queue: the latest one by
``(at, depth)`` gives ``depth`` and ``measured_at``; each minute's sample is its latest
measurement; samples older than :data:`TREND_SAMPLES` minutes before the latest are dropped.
Every part is a maximum (or a cut relative to one), so any order or repetition gives the
same document, and a rebuild gives what the live projection gave.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from tasktrail_shared.queues import QUEUE_MEASURED, TREND_SAMPLES, TREND_STEP, QueueMeasured

from tasktrail_projector.domain.events import to_datetime

Doc = dict[str, Any]


class InvalidMeasurement(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Depth:
    """One queue's depth in one measurement."""

    app: str
    queue: str
    at: float
    depth: int


def decode_measurement(payload: Any, app: str) -> list[Depth]:
    try:
        parsed = QueueMeasured.model_validate(payload)
    except ValidationError as exc:
        raise InvalidMeasurement(f"{QUEUE_MEASURED}: {_first_error(exc)}") from exc
    return [Depth(app, queue, parsed.at, depth) for queue, depth in parsed.depths.items()]


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    return f"{'.'.join(str(part) for part in error['loc']) or 'payload'}: {error['msg']}"


def doc_id(app: str, queue: str) -> str:
    return f"{app}/{queue}"


def group(depths: Iterable[Depth]) -> dict[str, list[Depth]]:
    grouped: dict[str, list[Depth]] = defaultdict(list)
    for depth in depths:
        grouped[doc_id(depth.app, depth.queue)].append(depth)
    return dict(grouped)


def _minute(moment: datetime) -> datetime:
    step = int(TREND_STEP)
    return moment - timedelta(seconds=moment.timestamp() % step)


def _sample_key(sample: Mapping[str, Any]) -> tuple[datetime, int]:
    return (sample["measured_at"], int(sample["depth"]))


def merge(old: Mapping[str, Any] | None, key: str, change: list[Depth]) -> Doc | None:
    """``old`` with ``change``'s measurements folded in; ``None`` if that changes nothing."""
    first = change[0]
    samples: dict[datetime, Doc] = {}
    held = [*((old or {}).get("trend") or [])]
    fresh = [{"measured_at": to_datetime(d.at), "depth": d.depth} for d in change]
    for sample in (*held, *fresh):
        minute = _minute(sample["measured_at"])
        kept = samples.get(minute)
        if kept is None or _sample_key(sample) > _sample_key(kept):
            samples[minute] = {"at": minute, **{k: sample[k] for k in ("measured_at", "depth")}}
    newest = max(samples)
    horizon = newest - timedelta(seconds=TREND_STEP * (TREND_SAMPLES - 1))
    trend = [samples[m] for m in sorted(samples) if m >= horizon]
    latest = max(trend, key=_sample_key)
    doc: Doc = {
        "_id": key,
        "app": old["app"] if old else first.app,
        "queue": old["queue"] if old else first.queue,
        "depth": int(latest["depth"]),
        "measured_at": latest["measured_at"],
        "trend": trend,
    }
    if old is not None and all(doc[k] == old.get(k) for k in doc):
        return None
    return doc
