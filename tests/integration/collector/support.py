"""Shared pieces of the collector's integration tests: processes, load and stream contents."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import nats
import redis.asyncio as redis
from tasktrail_devstack.processes import ServiceProcess, find_binary
from tasktrail_devstack.servers import free_port
from tasktrail_shared.stream_message import content_id

from bench.firehose import Firehose


class CollectorProcess(ServiceProcess):
    """``tasktrail-collector`` as its own process, with its own spool and health port."""

    def __init__(self, name: str, workdir: Path, **env: str) -> None:
        self.health_port = free_port()
        super().__init__(
            name,
            [find_binary("tasktrail-collector")],
            log_path=workdir / f"{name}.log",
            env={
                "TASKTRAIL_COLLECTOR_HEALTH_PORT": str(self.health_port),
                "TASKTRAIL_COLLECTOR_SPOOL_DIR": str(workdir / f"{name}-spool"),
                "TASKTRAIL_LOG_LEVEL": "INFO",
                **{f"TASKTRAIL_{k.upper()}": v for k, v in env.items()},
            },
        )

    def health(self, path: str = "/readyz") -> tuple[int, dict[str, Any]]:
        url = f"http://127.0.0.1:{self.health_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())
        except OSError:
            return 0, {}

    def wait_ready(self, timeout: float = 30) -> None:
        self.wait_until("ready", lambda: self.health()[0] == 200, timeout)


def unique_messages(count: int, db: int = 0) -> list[tuple[str, bytes]]:
    """``count`` distinct Celery event messages as Celery puts them on Redis."""
    hose = Firehose(db)
    messages: list[tuple[str, bytes]] = []
    while len(messages) < count:
        messages.extend(hose.tasks(64).messages)
    return messages[:count]


async def publish_steadily(
    url: str, messages: list[tuple[str, bytes]], per_second: float, *, ticks: float = 0.02
) -> None:
    client = redis.from_url(url)
    per_tick = max(1, int(per_second * ticks))
    start = time.monotonic()
    try:
        for i in range(0, len(messages), per_tick):
            pipe = client.pipeline(transaction=False)
            for channel, payload in messages[i : i + per_tick]:
                pipe.publish(channel, payload)
            await pipe.execute()
            delay = start + (i // per_tick + 1) * ticks - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
    finally:
        await client.aclose()


async def wait_subscribers(url: str, count: int, timeout: float = 30) -> None:
    client = redis.from_url(url)
    try:
        async with asyncio.timeout(timeout):
            while await client.execute_command("PUBSUB", "NUMPAT") < count:
                await asyncio.sleep(0.05)
    finally:
        await client.aclose()


async def stream_ids(
    nats_url: str, stream: str = "TASKTRAIL", *, expect: int, timeout: float = 60
) -> list[str]:
    """The ``Nats-Msg-Id`` of every message in ``stream``, waiting up to ``timeout`` for
    ``expect`` of them (then a little longer, to see any extra)."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    try:
        async with asyncio.timeout(timeout):
            while (await js.stream_info(stream)).state.messages < expect:
                await asyncio.sleep(0.2)
        await asyncio.sleep(1)
        state = (await js.stream_info(stream)).state
        ids: list[str] = []
        for seq in range(state.first_seq, state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            ids.append((msg.headers or {})["Nats-Msg-Id"])
        return ids
    finally:
        await nc.close()


def ids_of(messages: list[tuple[str, bytes]]) -> set[str]:
    return {content_id(payload) for _, payload in messages}
