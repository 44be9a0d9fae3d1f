"""The notifier killed with ``kill -9`` in the middle of a delivery: a real notifier process,
a real Celery worker and collector, and receivers that take the first requests and hold them
unanswered. Started again, the notifier takes the deliveries over once their lease ends and
sends them again under the same ids: nothing is lost, and what a channel sees twice is only
the notification whose answer never came back, with the same delivery id (webhook) and the
same ``dedup_key`` (PagerDuty, which absorbs it)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from celery import Celery
from tasktrail_devstack.processes import ServiceProcess, find_binary
from tasktrail_devstack.servers import HOST, free_port

from tests.integration.notifier.conftest import APP, SECRET
from tests.integration.notifier.receivers import receiving
from tests.integration.notifier.test_notifier_celery import created, verify

LEASE = 3.0


@pytest.fixture
def notifier_process(
    fresh_nats_url: str, mongo_url: str, mongo_db: str, tmp_path: Path
) -> Iterator[tuple[ServiceProcess, str]]:
    port = free_port()
    env = {
        "TASKTRAIL_NATS_URL": fresh_nats_url, "TASKTRAIL_MONGO_URL": mongo_url,
        "TASKTRAIL_MONGO_DB": mongo_db, "TASKTRAIL_APP": APP,
        "TASKTRAIL_NOTIFIER_HEALTH_PORT": str(port), "TASKTRAIL_NOTIFIER_TICK": "0.1",
        "TASKTRAIL_NOTIFIER_CONFIG_MAX_AGE": "0.2", "TASKTRAIL_NOTIFIER_LEASE": str(LEASE),
        "TASKTRAIL_NOTIFIER_HTTP_TIMEOUT": "60",
    }  # fmt: skip
    proc = ServiceProcess(
        "notifier", [find_binary("tasktrail-notifier")], log_path=tmp_path / "n.log", env=env
    )
    yield proc, f"http://{HOST}:{port}/readyz"
    proc.stop()


async def test_killed_mid_delivery_loses_nothing_and_repeats_only_the_unanswered(
    api: httpx.AsyncClient,
    worker: ServiceProcess,
    celery_client: Celery,
    notifier_process: tuple[ServiceProcess, str],
) -> None:
    notifier, ready = notifier_process
    async with receiving(hold=2) as receiver:
        hook = {"url": f"{receiver.url}/hook", "secret": SECRET}
        pager = {"routing_key": "rk", "url": f"{receiver.url}/v2/enqueue"}
        channels = [
            await created(api, "/monitor/alerts/channels", {"name": n, "type": t, "config": c},
                          "channel")
            for n, t, c in (("hook", "webhook", hook), ("pd", "pagerduty", pager))
        ]  # fmt: skip
        await created(
            api, "/monitor/alerts/rules",
            {"name": "fails", "kind": "task_failed", "filter": {"name": "demo.add"},
             "channels": channels},
            "rule",
        )  # fmt: skip
        notifier.start()
        await asyncio.to_thread(notifier.wait_http_ok, ready)
        celery_client.send_task("demo.add", args=["text", 1])  # TypeError: fails
        held = await receiver.wait_held(2)  # both channels' firing, unanswered
        notifier.kill()
        receiver.release.set()
        states = await deliveries(api)
        assert sorted(d["state"] for d in states) == ["sending", "sending"]  # claimed, dead

        notifier.restart()
        await asyncio.to_thread(notifier.wait_http_ok, ready)
        again = await receiver.wait_for(2, timeout=60)  # once their lease has ended
        celery_client.send_task("demo.add", args=[1, 2])
        answered = await receiver.wait_for(4, timeout=60)
        await asyncio.sleep(1.0)  # time for anything sent twice to arrive

    by_path = {
        path: [r for r in [*held, *receiver.requests] if r.path == path]
        for path in ("/hook", "/v2/enqueue")
    }
    # The webhook: the firing twice (held and lost, then sent again: same delivery id, same
    # body, each signed), then the resolution once.
    first, second, resolved = by_path["/hook"]
    assert (first.status, second.status, resolved.status) == (0, 200, 200)
    assert first.headers["x-tasktrail-delivery"] == second.headers["x-tasktrail-delivery"]
    assert first.body == second.body and verify(first) == verify(second)
    assert verify(second)["status"] == "firing" and verify(resolved)["status"] == "resolved"
    assert verify(resolved)["incident"]["id"] == verify(first)["incident"]["id"]
    # PagerDuty: trigger twice with one dedup_key (one incident there), then resolve.
    actions = [(r.json()["event_action"], r.json()["dedup_key"]) for r in by_path["/v2/enqueue"]]
    key = verify(first)["incident"]["id"]
    assert actions == [("trigger", key), ("trigger", key), ("resolve", key)]
    assert len(answered) == 4 and again == answered[:2]
    settled = await deliveries(api)
    assert sorted((d["status"], d["state"], d["attempts"]) for d in settled) == [
        ("firing", "delivered", 1), ("firing", "delivered", 1),
        ("resolved", "delivered", 1), ("resolved", "delivered", 1),
    ]  # fmt: skip


async def deliveries(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    (incident,) = (await api.get("/monitor/alerts/incidents")).json()["data"]["incidents"]
    shown = (await api.get(f"/monitor/alerts/incidents/{incident['id']}")).json()["data"]
    found: list[dict[str, Any]] = shown["incident"]["deliveries"]
    return found
