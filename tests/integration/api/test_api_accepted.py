"""Without a projector a write is still recorded: 202 with the event id, and the event is in
the log exactly as the contract describes it."""

from __future__ import annotations

import json

import httpx
import nats
import pytest
from tasktrail_api.settings import Settings
from tasktrail_shared import own_events
from tasktrail_shared.nats import ensure_stream
from tasktrail_shared.stream_message import StreamMessage


@pytest.fixture
def settings(settings: Settings, nats_stream: str) -> Settings:
    return settings.model_copy(update={"api_write_wait": 0.2, "stream": nats_stream})


async def test_an_unprojected_write_is_202_with_its_event(
    client: httpx.AsyncClient, settings: Settings, nats_url: str
) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_stream(js, settings.stream_settings())
    try:
        response = await client.post("/monitor/tasks", json={"uuid": "t-9", "status": "f"})
        assert response.status_code == 202, response.text
        data = response.json()["data"]
        assert data["status"] == "accepted" and data["seq"] == 1
        msg = await js.get_msg(settings.stream, 1)
        envelope = StreamMessage.parse(msg.headers, msg.data or b"")
        assert envelope.id == data["event_id"] == (msg.headers or {})["Nats-Msg-Id"]
        assert envelope.type == own_events.TASK_RECORDED
        assert msg.subject == f"tasktrail.events.{settings.app}.tasktrail.task.recorded"
        payload = json.loads(envelope.data)
        assert (payload["uuid"], payload["actor"], payload["fields"]) == (
            "t-9", "admin", {"state": "FAILURE"}
        )  # fmt: skip
        own_events.TaskRecorded.model_validate(payload)
    finally:
        await nc.close()


async def test_without_a_stream_writes_are_503(client: httpx.AsyncClient) -> None:
    response = await client.post("/monitor/tasks", json={"uuid": "t-9"})
    assert response.status_code == 503 and "event stream" in response.json()["err_msg"]
