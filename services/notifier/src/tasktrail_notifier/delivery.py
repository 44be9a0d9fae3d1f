"""Work through the pending deliveries: claim one (one replica at a time), send it through
its channel with retries, record each attempt in the log and the outcome in the store.

A channel answering with a permanent error (a 4xx other than 429, an SMTP 5xx) is disabled
with the reason, so it shows why it stays silent. A silenced delivery waits (a firing one is
sent when the silence ends while the incident still fires); one whose incident resolved
meanwhile is marked ``silenced`` and never sent, nor is the resolution of an incident whose
firing was never sent.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from tasktrail_shared.alerts import DELIVERY_ATTEMPTED

from tasktrail_notifier.domain.formats import HTTP_FORMATS, Notice, iso, mail
from tasktrail_notifier.domain.incidents import digest
from tasktrail_notifier.domain.retry import Answer, Backoff, verdict
from tasktrail_notifier.domain.silences import silenced
from tasktrail_notifier.evaluator import publish_event
from tasktrail_notifier.ports import Doc, Http, Publisher, Smtp, Store

log = logging.getLogger(__name__)
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Sent:
    """How sending one notification ended, after every attempt."""

    outcome: str
    """``delivered``, ``failed`` (retries exhausted) or ``permanent``."""
    answers: tuple[Answer, ...]

    @property
    def last(self) -> Answer:
        return self.answers[-1]


class Channels:
    """Send a notice through a channel of any type, retrying as ``backoff`` says."""

    def __init__(
        self,
        http: Http,
        smtp: Smtp,
        clock: Callable[[], float],
        backoff: Backoff,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._http, self._smtp, self._clock = http, smtp, clock
        self._backoff, self._sleep = backoff, sleep

    async def attempt(self, channel: Doc, notice: Notice) -> Answer:
        config: dict[str, Any] = channel.get("config") or {}
        if channel["type"] == "email":
            return await self._smtp.send(mail([notice], config), config)
        request = HTTP_FORMATS[str(channel["type"])](notice, config, self._clock())
        return await self._http.send(request)

    async def send(
        self,
        channel: Doc,
        notice: Notice,
        on_attempt: Callable[[int, Answer, str], Awaitable[None]] | None = None,
    ) -> Sent:
        answers: list[Answer] = []
        for number in range(1, self._backoff.attempts + 1):
            answer = await self.attempt(channel, notice)
            answers.append(answer)
            said = verdict(answer)
            last = number == self._backoff.attempts
            shown = "failed" if said == "retry" and last else said
            if on_attempt is not None:
                await on_attempt(number, answer, shown)
            if said != "retry":
                return Sent(said, tuple(answers))
            if not last:
                await self._sleep(self._backoff.delay(number, answer))
        return Sent("failed", tuple(answers))


def notice_of(delivery: Doc, incident: Doc | None) -> Notice:
    found = incident or {}
    started, resolved = found.get("started_at"), found.get("resolved_at")
    return Notice(
        id=str(delivery["_id"]),
        status=str(delivery["status"]),
        rule=dict(delivery["rule"]),
        incident={
            "id": str(delivery["incident"]),
            "key": str(delivery["key"]),
            "app": str(delivery["app"]),
            "started_at": iso(started.timestamp()) if started else None,
            "resolved_at": iso(resolved.timestamp()) if resolved else None,
        },
        reminder=int(delivery.get("reminder") or 0),
    )


class Deliverer:
    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        channels: Channels,
        clock: Callable[[], float],
        *,
        lease: float,
    ) -> None:
        self._store, self._publisher, self._channels = store, publisher, channels
        self._clock, self._lease = clock, lease
        self.owner = f"{socket.gethostname()}/{id(self):x}"
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self.silences: list[Doc] = []

    async def run_once(self) -> None:
        """Start delivering every pending delivery not already being delivered here."""
        now = self._clock()
        self.silences = await self._store.silences(now)
        for doc in await self._store.pending(now):
            key = str(doc["_id"])
            if key not in self._inflight:
                task = asyncio.create_task(self._guarded(doc))
                self._inflight[key] = task
                task.add_done_callback(partial(self._done, key))

    def _done(self, key: str, _: asyncio.Task[None]) -> None:
        self._inflight.pop(key, None)

    async def drain(self) -> None:
        if self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)

    async def _guarded(self, doc: Doc) -> None:
        try:
            await self.deliver(doc)
        except Exception:
            log.exception("delivery %s failed; it will be retried", doc.get("_id"))

    async def deliver(self, doc: Doc) -> None:
        now = self._clock()
        delivery_id = str(doc["_id"])
        incident = await self._store.incident(str(doc["incident"]))
        mute = silenced(self.silences, doc["org"], doc["rule"]["id"], doc["key"], _at(now))
        if mute:
            await self._muted(doc, incident, now)
            return
        claimed = await self._store.claim(delivery_id, now, self._lease, self.owner)
        if claimed is None:
            return
        channel = await self._store.channel(str(doc["channel"]))
        if channel is None or channel.get("disabled"):
            why = "channel deleted" if channel is None else "channel disabled"
            await self._finish(delivery_id, {"state": "failed", "error": why})
            return
        notice = notice_of(doc, incident)
        lease_mark = claimed.get("lease_until")

        async def on_attempt(number: int, answer: Answer, outcome: str) -> None:
            await self._record_attempt(doc, number, answer, outcome, lease_mark)

        sent = await self._channels.send(channel, notice, on_attempt)
        state = "delivered" if sent.outcome == "delivered" else "failed"
        await self._finish(delivery_id, {
            "state": state, "attempts": len(sent.answers), "code": sent.last.code,
            "error": sent.last.error, "done_at": _at(self._clock()),
        })  # fmt: skip
        if sent.outcome == "permanent":
            reason = f"{sent.last.code}: {sent.last.error or 'refused'}"[:300]
            await self._store.disable_channel(str(doc["channel"]), reason, self._clock())

    async def _muted(self, doc: Doc, incident: Doc | None, now: float) -> None:
        """A silenced firing waits; a resolution, or a firing whose incident is over, is
        settled as ``silenced`` and never sent."""
        over = doc["status"] == "resolved" or (incident or {}).get("state") == "resolved"
        if over and await self._store.claim(str(doc["_id"]), now, self._lease, self.owner):
            await self._finish(str(doc["_id"]), {"state": "silenced"})

    async def _finish(self, delivery_id: str, fields: Doc) -> None:
        await self._store.finish(delivery_id, self.owner, fields)

    async def _record_attempt(
        self, doc: Doc, number: int, answer: Answer, outcome: str, lease_mark: Any
    ) -> None:
        payload = {
            "delivery": doc["_id"],
            "incident": doc["incident"],
            "org": doc["org"],
            "rule": doc["rule"],
            "key": doc["key"],
            "channel": doc["channel"],
            "status": doc["status"],
            "attempt": number,
            "retries": number - 1,
            "outcome": outcome,
            "code": answer.code,
            "error": answer.error,
            "at": self._clock(),
        }
        event_id = digest("attempt", doc["_id"], str(lease_mark), number)
        await publish_event(self._publisher, str(doc["app"]), DELIVERY_ATTEMPTED, event_id, payload)


def _at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
