"""The projector against a real JetStream and a real MongoDB-wire server.

The recording is published as the collector would publish it; the projector runs in-process
through its composition root until its durable consumer has nothing pending.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from typing import Any

import httpx
import nats
from pymongo import AsyncMongoClient
from tasktrail_devstack.servers import free_port
from tasktrail_projector.adapters.store import STATS, STATS_SLOTS
from tasktrail_projector.main import serve
from tasktrail_projector.settings import LabelRule, Settings
from tasktrail_shared import mongo
from tasktrail_shared.fields import label_index
from tasktrail_shared.stream_message import MSG_ID_HEADER, celery_stream_message

from tests.integration.projector.support import (
    Published,
    as_published,
    drop,
    project,
    read,
    read_models,
    running,
    settings_for,
    without,
)
from tests.unit.projector import scenario
from tests.unit.projector.builders import online, record_envelope
from tests.unit.projector.replay import fold, recorded_events
from tests.wire import recorded_stream_messages

Doc = dict[str, Any]


async def test_recording_projects_into_the_read_models(
    fresh_nats_url: str, mongo_url: str, mongo_db: str
) -> None:
    settings = settings_for(fresh_nats_url, mongo_url, mongo_db, "TASKTRAIL")
    stats = await project(settings, as_published(recorded_stream_messages()))

    task_docs = await read(mongo_url, mongo_db, mongo.TASKS)
    worker_docs = await read(mongo_url, mongo_db, mongo.WORKERS)
    states = sorted(d["state"] for d in task_docs.values())
    assert states == ["FAILURE", "PENDING", "REVOKED"] + ["SUCCESS"] * 12
    # what came back from the database is exactly what the pure fold computes
    expected_tasks, expected_workers = fold([recorded_events()])
    assert without(task_docs, "_v") == expected_tasks
    assert without(worker_docs, "_v") == expected_workers

    w2 = worker_docs["w2@corpus"]
    assert w2["alive_until"] == w2["last_heartbeat"] + timedelta(seconds=4)
    assert not online(w2, w2["alive_until"])
    assert w2["alive_until"].tzinfo is not None
    assert worker_docs["w1@corpus"]["offline_at"] == worker_docs["w1@corpus"]["alive_until"]

    history = await read(mongo_url, mongo_db, mongo.TASK_EVENTS)
    entries = sum(len(h["events"]) for h in history.values())
    assert entries == sum(1 for o in recorded_events() if o.type.startswith("task-"))
    assert stats.events == len(recorded_events()) and stats.dead_letters == 0
    catalog = await read(mongo_url, mongo_db, mongo.CATALOG)
    assert sorted(d["name"] for d in catalog.values()) == sorted(
        {d["name"] for d in task_docs.values() if d["name"]}
    )
    assert stats.documents_written == len(task_docs) + len(worker_docs) + len(catalog)


async def test_reversed_duplicated_and_raced_gives_identical_documents(
    fresh_nats_url: str, mongo_url: str, mongo_db: str
) -> None:
    envelopes = recorded_stream_messages()
    first = settings_for(fresh_nats_url, mongo_url, mongo_db, "FIRST")
    await project(first, as_published(envelopes))

    # Every message twice, newest first; the copy is re-published after the duplicate
    # window (new Nats-Msg-Id) and seen later by the collector, and two replicas race
    # in small batches.
    messages: list[Published] = []
    for env in reversed(envelopes):
        subject, headers, data = env.nats_subject, env.headers(), env.data
        later = {
            **headers,
            MSG_ID_HEADER: f"{env.id}-again",
            "ce-received": repr(env.received + 60),
        }
        messages += [(subject, later, data), (subject, headers, data)]
    nc = await nats.connect(fresh_nats_url)
    await nc.jetstream().delete_stream("FIRST")  # both streams would claim the same subjects
    await nc.close()
    second = settings_for(fresh_nats_url, mongo_url, f"{mongo_db}_b", "SECOND")
    second.projector_batch_size = 5
    try:
        stats = await project(second, messages, replicas=2)
        for collection in (mongo.TASKS, mongo.WORKERS):
            once = await read(mongo_url, mongo_db, collection)
            again = await read(mongo_url, second.mongo_db, collection)
            assert without(again, "_v") == without(once, "_v"), collection
        once = await read(mongo_url, mongo_db, mongo.TASK_EVENTS)
        again = await read(mongo_url, second.mongo_db, mongo.TASK_EVENTS)
        assert without(again, "seq") == without(once, "seq")
        assert stats.messages == 2 * len(envelopes)
        assert await read(mongo_url, mongo_db, STATS) == await read(
            mongo_url, second.mongo_db, STATS
        )
    finally:
        await drop(mongo_url, second.mongo_db)


async def test_malformed_messages_are_dead_lettered_and_the_rest_projects(
    fresh_nats_url: str, mongo_url: str, mongo_db: str
) -> None:
    settings = settings_for(fresh_nats_url, mongo_url, mongo_db, "TASKTRAIL")
    good = as_published(recorded_stream_messages())
    not_an_envelope = ("tasktrail.events.scan.celery.task.sent", {"X": "1"}, b"\x00\x01")
    bad_body = celery_stream_message(
        app="scan", routing_key="task.sent", data=json.dumps({"body": 5}).encode(), source="t"
    )
    bad_record = record_envelope("task.amended", 1.0, app="scan", uuid="t", fields={"state": "X"})
    messages = [
        *good[:30],
        not_an_envelope,
        *as_published([bad_body]),
        *good[30:],
        *as_published([bad_record]),
    ]
    stats = await project(settings, messages)

    letters = await read(mongo_url, mongo_db, mongo.DEAD_LETTERS)
    assert stats.dead_letters == 3 and len(letters) == 3
    by_seq = {seq: d["reason"] for seq, d in letters.items()}
    assert "not a tasktrail stream message" in by_seq[31]  # the stream sequence is the key
    assert "body is not a string" in by_seq[32]
    assert "state: 'X' is not one of" in by_seq[len(messages)]
    assert all(d["at"] is not None for d in letters.values())
    assert len(await read(mongo_url, mongo_db, mongo.TASKS)) == 15


async def test_indexes_and_readiness(fresh_nats_url: str, mongo_url: str, mongo_db: str) -> None:
    rules = [LabelRule(label="cidr_id", task="scan.*", arg=0), LabelRule(label="port", arg=1)]
    settings = settings_for(
        fresh_nats_url,
        mongo_url,
        mongo_db,
        "TASKTRAIL",
        projector_labels=rules,
        projector_task_ttl_days=7,
        projector_event_ttl_days=2,
    )
    async with running(settings) as [projection]:
        assert await projection.ready() == {"nats": True, "mongo": True}
    tasks = await index_info(mongo_url, mongo_db, mongo.TASKS)
    keys = [list(spec["key"]) for spec in tasks.values()]
    assert [("worker", 1), ("state", 1)] in keys and [("_slots", 1)] in keys
    assert [("state", 1), ("timestamp", -1)] not in keys  # query indexes are the API's
    labels = {name for name in tasks if name.startswith("live_label_")}
    assert labels == {
        "live_label_port"
    }  # the seed's four labels are the API's filters: its indexes
    assert list(tasks["live_label_port"]["key"]) == label_index("port")[1]  # the walk the API reads
    assert tasks["finished_ttl"]["expireAfterSeconds"] == 7 * 86400
    slots = await index_info(mongo_url, mongo_db, STATS_SLOTS)
    assert slots["slot_ttl"]["expireAfterSeconds"] == 7 * 86400  # the stats window: the task TTL
    events = await index_info(mongo_url, mongo_db, mongo.TASK_EVENTS)
    assert events["timestamp_ttl"]["expireAfterSeconds"] == 2 * 86400
    # a new retention is applied in place; 0 drops the TTL index (keep forever)
    settings.projector_task_ttl_days, settings.projector_event_ttl_days = 30, 0
    async with running(settings):
        pass
    tasks = await index_info(mongo_url, mongo_db, mongo.TASKS)
    assert tasks["finished_ttl"]["expireAfterSeconds"] == 30 * 86400
    assert "timestamp_ttl" not in await index_info(mongo_url, mongo_db, mongo.TASK_EVENTS)


async def index_info(mongo_url: str, db: str, collection: str) -> dict[str, Any]:
    client: AsyncMongoClient[Doc] = mongo.client(mongo_url)
    try:
        return dict(await client[db][collection].index_information())
    finally:
        await client.close()


async def test_api_records_and_two_replicas_give_what_one_gives(
    fresh_nats_url: str, mongo_url: str, mongo_db: str
) -> None:
    """Manual records, amendments, deletes, reconciliation and inspections next to real
    lifecycles: one projector, and two racing on one durable in small batches, agree."""
    messages = as_published(scenario.messages())
    one = settings_for(fresh_nats_url, mongo_url, mongo_db, "ONE")
    await project(one, messages)
    nc = await nats.connect(fresh_nats_url)
    await nc.jetstream().delete_stream("ONE")
    await nc.close()
    two = settings_for(fresh_nats_url, mongo_url, f"{mongo_db}_b", "TWO", projector_batch_size=3)
    try:
        copies = [
            (s, {**h, MSG_ID_HEADER: h[MSG_ID_HEADER] + "-again"}, d) for s, h, d in messages[::3]
        ]
        stats = await project(two, [*copies, *messages], replicas=2)  # past the dedupe window
        assert stats.messages == len(messages) + len(copies)
        first, second = (
            await read_models(mongo_url, mongo_db),
            await read_models(mongo_url, two.mongo_db),
        )
        second[mongo.TASK_EVENTS] = without(second[mongo.TASK_EVENTS], "seq")
        first[mongo.TASK_EVENTS] = without(first[mongo.TASK_EVENTS], "seq")
        assert second == first
        tasks = first[mongo.TASKS]
        assert tasks["manual"]["name"] == "manual.v2" and tasks["bad"]["deleted"]
        assert first[mongo.WORKERS][scenario.W3]["deleted"]
        assert first[STATS]  # buckets were recomputed
    finally:
        await drop(mongo_url, two.mongo_db)


async def test_main_serves_health_while_projecting(
    fresh_nats_url: str, mongo_url: str, mongo_db: str
) -> None:
    port = free_port()
    settings = settings_for(fresh_nats_url, mongo_url, mongo_db, "TASKTRAIL")
    settings.projector_health_port = port
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            async with asyncio.timeout(30):
                while True:
                    with contextlib.suppress(httpx.TransportError):
                        response = await http.get("/readyz")
                        if response.status_code == 200:
                            break
                    await asyncio.sleep(0.1)
            assert response.json()["checks"] == {"nats": True, "mongo": True}
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


async def test_a_signal_ends_the_wait_for_unreachable_servers() -> None:
    settings = Settings(
        nats_url=f"nats://127.0.0.1:{free_port()}",
        mongo_url=f"mongodb://127.0.0.1:{free_port()}/?directConnection=true",
        projector_health_port=0,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    await asyncio.sleep(1)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, 10)
