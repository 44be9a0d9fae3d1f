"""Control's queue measurements: which queues, and one event per interval across replicas."""

from __future__ import annotations

import functools
import json
from typing import Any

from tasktrail_control.handlers import Broadcast
from tasktrail_control.queue_sampler import QueueSampler, consumed_queues
from tasktrail_shared.queues import QUEUE_MEASURED, QueueMeasured

from tests.unit.control.fakes import FakeRemote, RecordingPublisher


class Broker(FakeRemote):
    def __init__(self, consumed: dict[str, list[str]], depths: dict[str, int]) -> None:
        super().__init__(list(consumed))
        self.consumed, self.depths = consumed, depths
        self.measured: list[list[str]] = []

    async def broadcast(self, request: Broadcast) -> list[dict[str, Any]]:
        assert request.command == "active_queues"
        return [{w: [{"name": q, "exchange": {}} for q in qs]} for w, qs in self.consumed.items()]

    async def queue_lengths(self, queues: list[str]) -> dict[str, int]:
        self.measured.append(queues)
        return {q: self.depths.get(q, 0) for q in queues}


class Counted:
    def __init__(self, names: set[str]) -> None:
        self.found = names

    async def names(self) -> set[str]:
        return self.found


def test_consumed_queues_reads_active_queues_replies() -> None:
    replies: list[dict[str, Any]] = [
        {"w1": [{"name": "a"}, {"name": "b"}]}, {"w2": [{"name": "b"}, {}]}, {"w3": "x"},
    ]  # fmt: skip
    assert consumed_queues(replies) == {"a", "b"}


async def test_configured_consumed_and_counted_queues_are_measured_and_remembered() -> None:
    broker = Broker({"w1@h": ["celery", "fast"]}, {"celery": 3, "orphan": 12})
    counted = Counted({"orphan"})
    sampler = QueueSampler(
        "c1", broker, RecordingPublisher(), interval=10, configured=["default"],
        counted=counted, clock=lambda: 1_700_000_005.0,
    )  # fmt: skip
    message = await sampler.measure()
    assert message.type == QUEUE_MEASURED and message.app == "c1"
    payload = QueueMeasured.model_validate(json.loads(message.data))
    assert payload.depths == {"celery": 3, "default": 0, "fast": 0, "orphan": 12}
    broker.consumed, counted.found = {}, set()  # every worker gone: still measured
    again = QueueMeasured.model_validate(json.loads((await sampler.measure()).data))
    assert set(again.depths) == {"celery", "default", "fast", "orphan"}


async def test_replicas_measuring_within_one_interval_publish_one_event_id() -> None:
    ids = set()
    for at in (1_700_000_000.5, 1_700_000_009.9):
        sampler = QueueSampler(
            "c1", Broker({}, {}), RecordingPublisher(), interval=10, configured=["celery"],
            clock=functools.partial(float, at),
        )  # fmt: skip
        ids.add((await sampler.measure()).id)
    assert len(ids) == 1
    later = QueueSampler(
        "c1", Broker({}, {}), RecordingPublisher(), interval=10, configured=["celery"],
        clock=lambda: 1_700_000_010.0,
    )  # fmt: skip
    assert (await later.measure()).id not in ids
