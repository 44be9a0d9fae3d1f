"""``tasktrail-projector rebuild``: a replay into an empty database equals the live projection,
``--until`` gives the state as of a moment, the API serves a rebuilt database, and a live
projector can take over the replay's durable consumer."""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path

import httpx
import nats
from tasktrail_devstack.processes import ServiceProcess, find_binary
from tasktrail_devstack.servers import free_port
from tasktrail_projector.settings import LabelRule, Settings
from tasktrail_shared import mongo

from tests.integration.projector.support import (
    as_published,
    drop,
    project,
    publish,
    read_models,
    rebuild,
    running,
    settings_for,
    wait_drained,
    without,
)
from tests.unit.projector import scenario
from tests.unit.projector.builders import celery_message
from tests.unit.projector.replay import fold, recorded_events
from tests.wire import recorded_messages, recorded_stream_messages

RULES = [LabelRule(label="cidr_id", task="scan.tasks.*", arg=0)]


def recorded() -> list[tuple[str, dict[str, str], bytes]]:
    return as_published(recorded_stream_messages())


async def stream_time(settings: Settings, seq: int) -> str:
    nc = await nats.connect(settings.nats_url)
    try:
        message = await nc.jetstream().get_msg(settings.stream, seq)
        assert message.time is not None
        return message.time.isoformat()
    finally:
        await nc.close()


async def test_rebuild_equals_live_and_gives_state_as_of_a_moment(
    fresh_nats_url: str, mongo_url: str, mongo_db: str
) -> None:
    settings = settings_for(
        fresh_nats_url, mongo_url, mongo_db, "TASKTRAIL", projector_labels=RULES
    )
    junk = ("tasktrail.events.scan.celery.task.sent", {"ce-id": "x"}, b"\xff")
    messages = [*recorded(), junk, *as_published(scenario.messages())]
    await project(settings, messages)
    live = await read_models(mongo_url, mongo_db)
    assert live[mongo.DEAD_LETTERS] and live["stats"]
    full, prefix, at_time = (f"{mongo_db}_{s}" for s in ("full", "prefix", "time"))
    try:
        done = await rebuild(settings, "--into", full, log_level="INFO")
        assert done.returncode == 0, done.stderr
        assert f"{len(messages)} messages (" in done.stdout
        assert await read_models(mongo_url, full) == live
        # not a terminal: progress in log lines, done/total, rate and time left, then a summary
        said = [json.loads(text)["msg"] for text in done.stderr.splitlines()]
        progress = [text for text in said if text.startswith("rebuild: ")]
        assert progress, said
        total = f"{len(messages):,}"
        assert re.fullmatch(
            rf"rebuild: [\d,]+/{total} messages \([\d.]+%\), [\d,]+ msg/s, \S+ left",
            progress[0],
        ), progress
        summaries = [text for text in said if text.startswith("rebuild done: ")]
        assert len(summaries) == 1, said
        assert re.fullmatch(rf"rebuild done: {total} messages in \S+, [\d,]+ msg/s", summaries[0])

        again = await rebuild(settings, "--into", full)
        assert again.returncode == 2 and "already holds read models" in again.stderr

        cut = len(recorded_messages())  # everything before the junk and the scenario
        done = await rebuild(settings, "--into", prefix, "--until", str(cut))
        assert done.returncode == 0, done.stderr
        as_of = await read_models(mongo_url, prefix)
        expected, _ = fold([recorded_events()])
        assert without(as_of[mongo.TASKS], "lost", "cidr_id", "labels") == without(
            expected, "lost", "cidr_id", "labels"
        )
        assert not as_of[mongo.DEAD_LETTERS] and "manual" not in as_of[mongo.TASKS]

        moment = await stream_time(settings, cut)
        done = await rebuild(settings, "--into", at_time, "--until", moment)
        assert done.returncode == 0, done.stderr
        assert (await read_models(mongo_url, at_time))[mongo.TASKS].keys() == as_of[
            mongo.TASKS
        ].keys()
    finally:
        await drop(mongo_url, full, prefix, at_time)


async def test_the_api_serves_a_rebuilt_database_and_a_live_projector_takes_over(
    fresh_nats_url: str, mongo_url: str, mongo_db: str, tmp_path: Path
) -> None:
    """The documented switch: rebuild into a new database leaving a durable behind, point
    a projector (same durable) and the API at it (``TASKTRAIL_MONGO_DB``)."""
    settings = settings_for(fresh_nats_url, mongo_url, mongo_db, "TASKTRAIL")
    await project(settings, as_published(scenario.messages()))
    new_db = f"{mongo_db}_new"
    try:
        done = await rebuild(settings, "--into", new_db, "--durable", "projector-v2")
        assert done.returncode == 0, done.stderr
        assert "consumer 'projector-v2' left" in done.stdout
        taken = await rebuild(settings, "--into", f"{new_db}_x", "--durable", "projector-v2")
        assert taken.returncode == 2 and "already exists" in taken.stderr
        missing = await rebuild(settings.model_copy(update={"stream": "NOPE"}), "--into", "x")
        assert missing.returncode == 2 and "does not exist" in missing.stderr
        later = {**scenario._e("task-sent", 900, "client@h", uuid="after", name="late.task")}
        await publish(settings, as_published([celery_message("task.sent", later)]))
        switched = settings.model_copy(
            update={"mongo_db": new_db, "projector_durable": "projector-v2"}
        )
        async with running(switched):
            await wait_drained(switched)
        async with running(settings):
            await wait_drained(settings)
        old, new = await read_models(mongo_url, mongo_db), await read_models(mongo_url, new_db)
        assert new[mongo.TASKS] == old[mongo.TASKS] and "after" in new[mongo.TASKS]

        token, port = secrets.token_urlsafe(12), free_port()
        api = ServiceProcess(
            "api",
            [find_binary("tasktrail-api")],
            log_path=tmp_path / "api.log",
            env={
                "TASKTRAIL_MONGO_URL": mongo_url,
                "TASKTRAIL_MONGO_DB": new_db,
                "TASKTRAIL_NATS_URL": fresh_nats_url,
                "TASKTRAIL_ADMIN_TOKEN": token,
                "TASKTRAIL_API_HOST": "127.0.0.1",
                "TASKTRAIL_API_PORT": str(port),
            },
        )
        with api:
            api.wait_http_ok(f"http://127.0.0.1:{port}/healthz", timeout=30)
            async with httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {token}"}
            ) as client:
                for task_id in ("ok", "flaky", "after"):
                    reply = await client.get(f"/monitor/tasks/{task_id}")
                    assert reply.status_code == 200, reply.text
                    task = reply.json()["data"]["celerytask"]
                    assert task["status"] == new[mongo.TASKS][task_id]["state"]
                    assert task["name"] == new[mongo.TASKS][task_id]["name"]
    finally:
        await drop(mongo_url, new_db)
