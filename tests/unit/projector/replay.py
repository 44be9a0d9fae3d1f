"""The recorded Celery traffic as the projector sees it, and a pure in-memory replay."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from tasktrail_projector.domain import tasks, workers
from tasktrail_projector.domain.events import Observed
from tasktrail_projector.domain.labels import Rule
from tasktrail_projector.domain.own_events import Record
from tasktrail_shared.celery_wire import decode_celery_events

from tests.wire import recorded_stream_messages

Docs = dict[str, dict[str, Any]]
Item = Observed | Record
Replay = Callable[[Iterable[Sequence[Observed]]], tuple[Docs, Docs]]


def recorded_events() -> list[Observed]:
    """Every event of the fixture, in recording order, with its envelope's id and time."""
    observed = []
    for envelope in recorded_stream_messages():
        for index, event in enumerate(decode_celery_events(envelope)):
            observed.append(Observed(event, envelope.id, index, envelope.app, envelope.received))
    return observed


def fold(batches: Iterable[Sequence[Item]], rules: Sequence[Rule] = ()) -> tuple[Docs, Docs]:
    """What the projector would store after folding these batches one after another."""
    task_docs: Docs = {}
    worker_docs: Docs = {}
    for batch in batches:
        events = [i for i in batch if isinstance(i, Observed)]
        records = [i for i in batch if isinstance(i, Record)]
        for uuid, change in tasks.group(events, records).items():
            new = tasks.merge(task_docs.get(uuid), uuid, change, rules)
            if new is not None:
                task_docs[uuid] = new
        for hostname, worker_change in workers.group(events, records).items():
            doc = workers.merge(worker_docs.get(hostname), hostname, worker_change)
            if doc is not None:
                worker_docs[hostname] = doc
    return task_docs, worker_docs
