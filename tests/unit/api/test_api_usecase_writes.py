"""Hand-made writes through the service layer: publish, wait for the projection, answer with
the document or with the published event; the same flow for tasks and workers."""

from __future__ import annotations

from typing import Any

import pytest
from tasktrail_api.domain.errors import Conflict, NotFound, Unavailable
from tasktrail_api.domain.scope import EVERYTHING
from tasktrail_api.domain.writes import Change
from tasktrail_api.usecases.writes import TASK, WORKER, Kind
from tasktrail_shared import own_events

from tests.unit.api.fakes import ADMIN, NOW, World, task, worker

KINDS = [(TASK, "t-1", "uuid"), (WORKER, "celery@a", "hostname")]
FIELDS: dict[str, dict[str, Any]] = {"task": {"queue": "q"}, "worker": {"processed": 5}}
"""A settable field of each kind."""


@pytest.mark.parametrize(("kind", "key", "field"), KINDS)
@pytest.mark.parametrize("change", list(Change))
def test_each_write_is_an_event_of_the_shared_contract(
    kind: Kind, key: str, field: str, change: Change
) -> None:
    assert kind.event_type(change) in own_events.PAYLOADS
    assert field in own_events.PAYLOADS[kind.event_type(change)].model_fields


@pytest.fixture
def world() -> World:
    return World()


@pytest.mark.parametrize(("kind", "key", "field"), KINDS)
async def test_a_record_is_published_then_answered_as_projected(
    world: World, kind: Kind, key: str, field: str
) -> None:
    fields = FIELDS[kind.noun]
    written = await world.use_cases.writes.record(kind, key, fields, ADMIN, EVERYTHING)
    assert written.accepted is None and written.shown is not None
    [(event_type, payload)] = world.publisher.published
    assert event_type == kind.event_type(Change.RECORDED)
    assert payload == {"at": NOW.timestamp(), "actor": "root", field: key, "fields": fields}
    assert world.clock.elapsed == 0  # projected at once: no wait


async def test_a_recorded_task_is_shown_as_the_seed_shows_tasks(world: World) -> None:
    written = await world.use_cases.writes.record(
        TASK, "t-1", {"state": "FAILURE"}, ADMIN, EVERYTHING
    )
    assert written.shown is not None
    assert (written.shown["id"], written.shown["status"]) == ("t-1", "FAILURE")


async def test_a_task_recorded_without_an_id_gets_one(world: World) -> None:
    written = await world.use_cases.writes.record(TASK, None, {}, ADMIN, EVERYTHING)
    assert written.shown is not None and len(written.shown["uuid"]) == 36


@pytest.mark.parametrize(("kind", "key", "field"), KINDS)
async def test_what_exists_cannot_be_recorded_again_but_what_was_deleted_can(
    world: World, kind: Kind, key: str, field: str
) -> None:
    await world.use_cases.writes.record(kind, key, {}, ADMIN, EVERYTHING)
    with pytest.raises(Conflict, match="PATCH it instead"):
        await world.use_cases.writes.record(kind, key, {}, ADMIN, EVERYTHING)
    await world.use_cases.writes.delete(kind, key, ADMIN, EVERYTHING)
    restored = await world.use_cases.writes.record(kind, key, {}, ADMIN, EVERYTHING)
    assert restored.shown is not None


@pytest.mark.parametrize(("kind", "key", "field"), KINDS)
async def test_unknown_or_deleted_ones_cannot_be_amended_or_deleted(
    world: World, kind: Kind, key: str, field: str
) -> None:
    with pytest.raises(NotFound, match=f"{kind.noun} not found"):
        await world.use_cases.writes.amend(kind, key, FIELDS[kind.noun], ADMIN, EVERYTHING)
    await world.use_cases.writes.record(kind, key, {}, ADMIN, EVERYTHING)
    deleted = await world.use_cases.writes.delete(kind, key, ADMIN, EVERYTHING)
    assert (deleted.accepted, deleted.shown) == (None, None)
    with pytest.raises(NotFound):
        await world.use_cases.writes.delete(kind, key, ADMIN, EVERYTHING)
    assert len(world.publisher.published) == 2  # nothing published for the refusals


async def test_an_amendment_answers_the_amended_document(world: World) -> None:
    world.read_models.tasks.add(task("t-1", "STARTED"))
    written = await world.use_cases.writes.amend(
        TASK, "t-1", {"state": "SUCCESS"}, ADMIN, EVERYTHING
    )
    assert written.shown is not None and written.shown["status"] == "SUCCESS"
    assert world.publisher.published[0][0] == own_events.TASK_AMENDED


async def test_a_worker_amended_by_its_id_is_published_by_hostname(world: World) -> None:
    world.read_models.workers.add(worker("celery@a", online=True))
    await world.use_cases.writes.amend(WORKER, "id-celery@a", {"processed": 5}, ADMIN, EVERYTHING)
    [(event_type, payload)] = world.publisher.published
    assert (event_type, payload["hostname"]) == (own_events.WORKER_AMENDED, "celery@a")


@pytest.mark.parametrize(("kind", "key", "field"), KINDS)
async def test_a_write_not_projected_in_time_is_accepted_with_its_event(
    world: World, kind: Kind, key: str, field: str
) -> None:
    world.publisher.projecting = False
    written = await world.use_cases.writes.record(kind, key, FIELDS[kind.noun], ADMIN, EVERYTHING)
    assert written.shown is None and written.accepted is not None
    assert (written.accepted.id, written.accepted.seq) == ("e1", 1)
    assert world.clock.elapsed == pytest.approx(world.settings.api_write_wait)
    assert world.read_models.tasks.reads + world.read_models.workers.reads > 5  # it polled


async def test_a_write_that_cannot_be_published_is_unavailable(world: World) -> None:
    world.publisher.failing = True
    with pytest.raises(Unavailable):
        await world.use_cases.writes.record(TASK, "t-1", {}, ADMIN, EVERYTHING)


async def test_a_label_cleared_by_an_amendment_reads_back_cleared(world: World) -> None:
    world.read_models.tasks.add(task("t-1", labels={"zone": "eu"}))
    fields: dict[str, Any] = {"zone": None}
    written = await world.use_cases.writes.amend(TASK, "t-1", fields, ADMIN, EVERYTHING)
    assert written.shown is not None and written.shown["labels"] == {}
