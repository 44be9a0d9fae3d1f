"""The queue_depths read model: the latest depth and a per-minute trend, whatever the order."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tasktrail_projector.domain import queue_depths
from tasktrail_projector.domain.events import to_datetime
from tasktrail_projector.domain.messages import InvalidMessage, decode_message
from tasktrail_projector.domain.queue_depths import Depth
from tasktrail_projector.service import Projector
from tasktrail_shared.mongo import QUEUE_DEPTHS
from tasktrail_shared.queues import QUEUE_MEASURED, TREND_SAMPLES, TREND_STEP
from tasktrail_shared.stream_message import own_event

from tests.unit.projector.builders import deliveries
from tests.unit.projector.fakes import FakeSource, FakeStore

T0 = 1_700_000_040.0  # a whole minute
KEY = "c1/celery"


def folded(measurements: list[Depth], size: int = 1) -> dict[str, Any] | None:
    doc: dict[str, Any] | None = None
    for start in range(0, len(measurements), size):
        new = queue_depths.merge(doc, KEY, measurements[start : start + size])
        doc = new if new is not None else doc
    return doc


def depth(at: float, n: int) -> Depth:
    return Depth("c1", "celery", at, n)


def test_latest_depth_and_one_sample_per_minute() -> None:
    doc = folded([depth(T0, 1), depth(T0 + 10, 5), depth(T0 + 70, 2)])
    assert doc is not None
    assert (doc["app"], doc["queue"], doc["depth"]) == ("c1", "celery", 2)
    assert doc["measured_at"] == to_datetime(T0 + 70)
    assert [(s["at"], s["depth"]) for s in doc["trend"]] == [
        (to_datetime(T0), 5), (to_datetime(T0 + 60), 2),
    ]  # fmt: skip


def test_the_trend_keeps_a_day_of_minutes_before_the_latest() -> None:
    doc = folded([depth(T0 + i * TREND_STEP, i) for i in range(TREND_SAMPLES + 5)], size=100)
    assert doc is not None
    assert len(doc["trend"]) == TREND_SAMPLES
    assert doc["trend"][0]["depth"] == 5
    # A measurement older than the trend's horizon changes nothing.
    assert queue_depths.merge(doc, KEY, [depth(T0, 99)]) is None


@given(st.lists(st.tuples(st.integers(0, 600), st.integers(0, 50)), min_size=1, max_size=30),
       st.integers(1, 5), st.randoms())  # fmt: skip
def test_any_order_and_batching_give_the_same_document(
    points: list[tuple[int, int]], size: int, rnd: random.Random
) -> None:
    measurements = [depth(T0 + at, n) for at, n in points]
    shuffled = list(measurements)
    rnd.shuffle(shuffled)
    assert folded(measurements) == folded(shuffled + measurements[:2], size)


def test_a_measurement_of_nothing_new_writes_nothing() -> None:
    doc = folded([depth(T0, 3)])
    assert queue_depths.merge(doc, KEY, [depth(T0, 3)]) is None


def measurement(app: str, at: float, depths: dict[str, Any]) -> Any:
    return own_event(
        app=app, type=QUEUE_MEASURED, payload={"at": at, "depths": depths}, source="t",
        id=f"q{at}",
    )  # fmt: skip


def test_a_bad_measurement_is_refused() -> None:
    bad = measurement("c1", T0, {"celery": -1})
    with pytest.raises(InvalidMessage, match="depths"):
        decode_message(bad.headers(), bad.data)


async def test_the_projector_writes_each_queue_of_each_cluster() -> None:
    store = FakeStore()
    envelopes = [
        measurement("c1", T0, {"celery": 4, "slow": 0}),
        measurement("c2", T0, {"celery": 1}),
        measurement("c1", T0 + 10, {"celery": 7, "slow": 1}),
    ]
    projector = Projector(FakeSource(deliveries(envelopes)), store, batch_size=2)
    while await projector.step():
        pass
    docs = store.docs(QUEUE_DEPTHS)
    assert {k: v["depth"] for k, v in docs.items()} == {
        "c1/celery": 7,
        "c1/slow": 1,
        "c2/celery": 1,
    }
    assert docs["c1/celery"]["measured_at"] == to_datetime(T0 + 10)
