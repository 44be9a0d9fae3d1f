"""Work through the pending deliveries: claim one (one replica at a time), send it through
its channel with retries, record each attempt in the log and the outcome in the store.

A channel answering with a permanent error (a 4xx other than 429, an SMTP 5xx) is disabled
with the reason, so it shows why it stays silent. A silenced delivery waits (a firing one is
sent when the silence ends while the incident still fires); one whose incident resolved
meanwhile is marked ``silenced`` and never sent, nor is the resolution of an incident whose
firing was never sent.

E-mail channels with a ``group_window`` gather notifications, as Alertmanager's
``group_interval`` does with a ``group_wait`` of zero: a channel that sent no mail within the
window sends the first notification at once; the ones that come while the window since the
last mail runs wait for its end and go together in one mail. Which replica mails is decided
by one conditional update of the channel's ``mailed_at`` (its window's slot), so replicas do
not split a group.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from tasktrail_shared.alerts import DELIVERY_ATTEMPTED
from tasktrail_shared.times import as_utc

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

    async def attempt(self, channel: Doc, notices: Sequence[Notice]) -> Answer:
        """One attempt; several notices only for e-mail (one mail holds them all)."""
        config: dict[str, Any] = channel.get("config") or {}
        if channel["type"] == "email":
            return await self._smtp.send(mail(list(notices), config), config)
        request = HTTP_FORMATS[str(channel["type"])](notices[0], config, self._clock())
        return await self._http.send(request)

    async def send(
        self,
        channel: Doc,
        notice: Notice,
        on_attempt: Callable[[int, Answer, str], Awaitable[None]] | None = None,
        *,
        more: Sequence[Notice] = (),
    ) -> Sent:
        """``notice`` (and, in one mail, ``more``) through the channel, retried as the
        backoff says."""
        answers: list[Answer] = []
        for number in range(1, self._backoff.attempts + 1):
            answer = await self.attempt(channel, (notice, *more))
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


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery this replica holds the lease of, what it says, and the lease's end as
    claimed (``lease_mark``: the attempts of one claim get ids of their own)."""

    doc: Doc
    notice: Notice
    lease_mark: Any


def group_window(channel: Doc) -> float:
    """Seconds an e-mail channel gathers notifications for (0: a mail per notification)."""
    if channel.get("type") != "email":
        return 0.0
    return float((channel.get("config") or {}).get("group_window") or 0)


def window_open(channel: Doc, now: float) -> bool:
    """Whether the channel's grouping window since its last mail has ended (or it sent none):
    a read-only look that spares claiming the slot on every tick."""
    mailed = channel.get("mailed_at")
    return (
        not isinstance(mailed, datetime)
        or as_utc(mailed).timestamp() + group_window(channel) <= now
    )


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
        """Start delivering every pending delivery not already being delivered here; those
        of a grouping e-mail channel together, once its window allows a mail."""
        now = self._clock()
        self.silences = await self._store.silences(now)
        pending = await self._store.pending(now)
        channels = await self._store.channels() if pending else {}
        grouped: dict[str, list[Doc]] = {}
        for doc in pending:
            channel = channels.get(str(doc["channel"]))
            if channel is not None and group_window(channel) > 0:
                grouped.setdefault(str(channel["_id"]), []).append(doc)
            else:
                self._start(str(doc["_id"]), self.deliver(doc))
        for channel_id, docs in grouped.items():
            if window_open(channels[channel_id], now):
                self._start(f"mail:{channel_id}", self.deliver_group(channels[channel_id], docs))

    def _start(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        if key in self._inflight:
            work.close()
            return
        task = asyncio.create_task(self._guarded(key, work))
        self._inflight[key] = task
        task.add_done_callback(partial(self._done, key))

    def _done(self, key: str, _: asyncio.Task[None]) -> None:
        self._inflight.pop(key, None)

    async def drain(self) -> None:
        if self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)

    async def _guarded(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception:
            log.exception("delivery %s failed; it will be retried", key)

    async def deliver(self, doc: Doc) -> None:
        claimed = await self._claim(doc)
        if claimed is not None:
            await self._send(str(doc["channel"]), [claimed])

    async def deliver_group(self, channel: Doc, docs: list[Doc]) -> None:
        """The pending deliveries of a grouping e-mail channel, in one mail, if this replica
        takes the channel's next mail (the others leave them to it)."""
        channel_id = str(channel["_id"])
        if not await self._store.take_mail_slot(channel_id, self._clock(), group_window(channel)):
            return
        claimed = [c for c in [await self._claim(doc) for doc in docs] if c is not None]
        if claimed:
            await self._send(channel_id, claimed)

    async def _claim(self, doc: Doc) -> Claimed | None:
        """The delivery, now ours to send, with its incident; ``None`` if it is silenced or
        another replica has it."""
        now = self._clock()
        incident = await self._store.incident(str(doc["incident"]))
        mute = silenced(self.silences, doc["org"], doc["rule"]["id"], doc["key"], _at(now))
        if mute:
            await self._muted(doc, incident, now)
            return None
        claimed = await self._store.claim(str(doc["_id"]), now, self._lease, self.owner)
        if claimed is None:
            return None
        return Claimed(doc, notice_of(doc, incident), claimed.get("lease_until"))

    async def _send(self, channel_id: str, items: list[Claimed]) -> None:
        """Send claimed deliveries through one channel (several: one mail), record each
        attempt of each, settle them all alike; a permanent error disables the channel."""
        channel = await self._store.channel(channel_id)
        if channel is None or channel.get("disabled"):
            why = "channel deleted" if channel is None else "channel disabled"
            for item in items:
                await self._finish(str(item.doc["_id"]), {"state": "failed", "error": why})
            return

        async def on_attempt(number: int, answer: Answer, outcome: str) -> None:
            for item in items:
                await self._record_attempt(item.doc, number, answer, outcome, item.lease_mark)

        notices = [item.notice for item in items]
        sent = await self._channels.send(channel, notices[0], on_attempt, more=notices[1:])
        state = "delivered" if sent.outcome == "delivered" else "failed"
        for item in items:
            await self._finish(str(item.doc["_id"]), {
                "state": state, "attempts": len(sent.answers), "code": sent.last.code,
                "error": sent.last.error, "done_at": _at(self._clock()),
                "mail_of": len(items),
            })  # fmt: skip
        if sent.outcome == "permanent":
            reason = f"{sent.last.code}: {sent.last.error or 'refused'}"[:300]
            await self._store.disable_channel(channel_id, reason, self._clock())

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
