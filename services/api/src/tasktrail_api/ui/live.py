"""Live pages: change notices in, a few pushes per second out to each browser.

The projector names the tasks and workers each batch changed (``tasktrail_shared.changes``).
The hub gathers the notices that arrive between two ticks (at most one tick per
``interval``), then asks each *interest* (what a kind of page follows: a filtered task list,
one task, the workers, the overview) what the change means for it, once per distinct
interest however many browsers share it: that is the only read, shared by every browser of
the same page. Each browser gets the events as one push in a bounded queue; a browser that
falls behind (its queue is full) gets one ``reload`` and nothing more, never an unbounded
backlog.

Pushes carry ids ``<boot>.<tick>``: a browser that reconnects with ``Last-Event-ID`` gets
what changed since that tick (the hub remembers the last ``history`` ticks' ids), or a
``reload`` if the hub no longer knows (restarted, or too long ago).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import AsyncIterator, Hashable
from dataclasses import InitVar, dataclass, field
from typing import Protocol

from tasktrail_shared.changes import ChangeNotice

log = logging.getLogger(__name__)

RELOAD = "reload"
KEEP_ALIVE = 15.0
"""Seconds of silence after which a comment line keeps proxies from closing the stream."""


@dataclass(frozen=True, slots=True)
class Changed:
    """What changed since the previous tick."""

    tasks: frozenset[str] = frozenset()
    workers: frozenset[str] = frozenset()
    many: bool = False
    """More changed than the notices named: pages reload what they show."""
    clock: bool = False
    """No notice: time passed (workers go offline by silence, not by an event)."""

    def __or__(self, other: Changed) -> Changed:
        return Changed(
            self.tasks | other.tasks,
            self.workers | other.workers,
            self.many or other.many,
            self.clock or other.clock,
        )

    @property
    def empty(self) -> bool:
        return not (self.tasks or self.workers or self.many or self.clock)


Event = tuple[str, str]
"""An SSE event: its name and its data (HTML, or a word)."""


class Interest(Protocol):
    """What one kind of page follows; browsers with equal ``key`` share one ``render``."""

    @property
    def key(self) -> Hashable: ...

    async def render(self, changed: Changed) -> list[Event]:
        """The events this change means for the page; none if it does not concern it."""
        ...


@dataclass(frozen=True, slots=True)
class Push:
    id: str
    events: list[Event]


@dataclass(eq=False)
class Subscriber:
    interest: Interest
    depth: int
    queue: deque[Push] = field(default_factory=deque)
    behind: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def offer(self, push: Push) -> None:
        if self.behind:
            return
        if len(self.queue) >= self.depth:
            self.queue.clear()
            self.behind = True
        else:
            self.queue.append(push)
        self.wake.set()

    async def next(self, timeout: float) -> Push | None:
        """The next push; ``None`` after ``timeout`` seconds without one, or once behind."""
        if not self.queue and not self.behind:
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)
        if self.behind or not self.queue:
            return None
        return self.queue.popleft()


@dataclass(eq=False, kw_only=True)
class LiveHub:
    interval: float = 0.25
    history: InitVar[int] = 256
    depth: int = 8
    clock_every: float = 5.0

    def __post_init__(self, history: int) -> None:
        self.boot = secrets.token_hex(4)
        self.tick = 0
        self._pending = Changed()
        self._recent: deque[tuple[int, Changed]] = deque(maxlen=history)
        self._subscribers: set[Subscriber] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self.notices = 0

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def last_id(self) -> str:
        return f"{self.boot}.{self.tick}"

    def notice(self, notice: ChangeNotice) -> None:
        """Take a change notice (from the NATS subscription); cheap, never blocks."""
        self.notices += 1
        self.note(Changed(frozenset(notice.tasks), frozenset(notice.workers), notice.more))

    def note(self, changed: Changed) -> None:
        self._pending = self._pending | changed
        self._wake.set()

    async def run(self) -> None:
        """Tick until :meth:`stop`: at most one delivery per ``interval``.

        Stopped by a flag, not by cancellation: a delivery reads MongoDB, and a pymongo call
        must not be cancelled; and on Python 3.11 ``wait_for`` can swallow a cancellation that
        arrives as the event is set, which left this loop running after shutdown."""
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.clock_every):
                    await self._wake.wait()
            if self._stopping:
                return
            self._wake.clear()
            changed, self._pending = self._pending, Changed()
            if changed.empty:
                changed = Changed(clock=True)
            if changed.clock and not self._subscribers:
                continue
            await self.deliver(changed)
            await asyncio.sleep(self.interval)

    def stop(self) -> None:
        """Make :meth:`run` return at its next step."""
        self._stopping = True
        self._wake.set()

    async def deliver(self, changed: Changed) -> None:
        self.tick += 1
        if not changed.clock:
            self._recent.append((self.tick, changed))
        groups: dict[Hashable, list[Subscriber]] = {}
        for sub in list(self._subscribers):
            groups.setdefault(sub.interest.key, []).append(sub)
        push_id = self.last_id()
        for subs in groups.values():
            events = await self._render(subs[0].interest, changed)
            if events:
                for sub in subs:
                    sub.offer(Push(push_id, events))

    @staticmethod
    async def _render(interest: Interest, changed: Changed) -> list[Event]:
        try:
            return await interest.render(changed)
        except Exception as exc:  # one page's failure must not stop the others' pushes
            log.warning("live render of %r failed: %r", interest.key, exc)
            return []

    def since(self, last_event_id: str | None) -> Changed | None:
        """What changed after the push ``last_event_id``; ``None`` if the hub cannot tell."""
        if not last_event_id:
            return Changed()
        boot, _, tick = last_event_id.partition(".")
        if boot != self.boot or not tick.isdigit() or int(tick) > self.tick:
            return None
        seen = int(tick)
        if seen < self.tick and (not self._recent or self._recent[0][0] > seen + 1):
            return None  # some ticks after it are forgotten
        changed = Changed()
        for at, what in self._recent:
            if at > seen:
                changed = changed | what
        return changed

    async def subscribe(self, interest: Interest, last_event_id: str | None) -> Subscriber:
        """A new browser; after a reconnect it first gets what it missed (or a reload)."""
        sub = Subscriber(interest, self.depth)
        missed = self.since(last_event_id)
        if missed is None:
            sub.behind = True
        elif not missed.empty:
            events = await self._render(interest, missed)
            if events:
                sub.offer(Push(self.last_id(), events))
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self._subscribers.discard(sub)


def sse(name: str, data: str, event_id: str | None = None) -> str:
    """One Server-Sent Event; multi-line data becomes several ``data:`` lines."""
    lines = [f"event: {name}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in (data.splitlines() or [""])]
    return "\n".join(lines) + "\n\n"


async def stream(hub: LiveHub, sub: Subscriber) -> AsyncIterator[str]:
    """A browser's event stream until it goes away (Starlette cancels this then)."""
    try:
        yield f"retry: 2000\nid: {hub.last_id()}\n\n"
        while True:
            push = await sub.next(KEEP_ALIVE)
            if sub.behind:
                yield sse(RELOAD, RELOAD, hub.last_id())
                return
            if push is None:
                yield ": keep-alive\n\n"
                continue
            for name, data in push.events:
                yield sse(name, data, push.id)
    finally:
        hub.unsubscribe(sub)
