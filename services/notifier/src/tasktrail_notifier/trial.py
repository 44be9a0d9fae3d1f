""" "Send test": a synthetic incident through a channel's real transport, on request from the
API (NATS request/reply), answered with what the channel said. It goes through the same
formats and retries as a real notification; a test never disables the channel."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

from tasktrail_shared.alerts import TestOutcome

from tasktrail_notifier.delivery import Channels
from tasktrail_notifier.domain.formats import Notice, iso
from tasktrail_notifier.ports import Store


class Trials:
    def __init__(self, store: Store, channels: Channels, clock: Callable[[], float]) -> None:
        self._store, self._channels, self._clock = store, channels, clock

    async def handle(self, raw: bytes) -> bytes:
        return (await self.run(raw)).model_dump_json().encode()

    async def run(self, raw: bytes) -> TestOutcome:
        try:
            channel_id = str(json.loads(raw)["channel"])
        except (ValueError, KeyError, TypeError):
            return TestOutcome(ok=False, error='bad request: {"channel": id} expected')
        channel = await self._store.channel(channel_id)
        if channel is None:
            return TestOutcome(ok=False, error="channel not found")
        test_id = f"test-{uuid.uuid4().hex}"
        notice = Notice(
            id=test_id,
            status="firing",
            rule={"id": "test", "name": "test notification", "kind": "task_failed"},
            incident={
                "id": test_id, "key": "tasktrail.test", "app": "test",
                "started_at": iso(self._clock()), "resolved_at": None,
            },
            test=True,
        )  # fmt: skip
        sent = await self._channels.send(channel, notice)
        return TestOutcome(
            ok=sent.outcome == "delivered",
            code=sent.last.code,
            error=sent.last.error,
            attempts=len(sent.answers),
        )
