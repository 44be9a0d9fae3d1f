"""The live hub: notices coalesced into one push per tick, one render per distinct page,
a browser that falls behind gets one reload, and a reconnect resumes from its last event."""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from dataclasses import dataclass, field

from tasktrail_api.ui.live import RELOAD, Changed, Event, LiveHub, sse, stream
from tasktrail_shared.changes import ChangeNotice


@dataclass(eq=False)
class Page:
    name: str = "tasks"
    seen: list[Changed] = field(default_factory=list)

    @property
    def key(self) -> Hashable:
        return self.name

    async def render(self, changed: Changed) -> list[Event]:
        self.seen.append(changed)
        return [("rows", ",".join(sorted(changed.tasks)))] if changed.tasks else []


def notice(*tasks: str, workers: tuple[str, ...] = (), more: bool = False) -> ChangeNotice:
    return ChangeNotice(app="a", seq=1, tasks=list(tasks), workers=list(workers), more=more)


async def test_notices_between_ticks_become_one_push_rendered_once_per_page() -> None:
    hub = LiveHub()
    page = Page()
    first, second = await hub.subscribe(page, None), await hub.subscribe(page, None)
    hub.notice(notice("t1", "t2"))
    hub.notice(notice("t2", "t3", workers=("w1",)))
    await hub.deliver(hub._pending)
    assert page.seen == [Changed(frozenset({"t1", "t2", "t3"}), frozenset({"w1"}))]
    for sub in (first, second):
        push = await sub.next(0)
        assert push is not None and push.events == [("rows", "t1,t2,t3")]
        assert push.id == f"{hub.boot}.1"


async def test_a_browser_that_falls_behind_gets_one_reload_and_no_backlog() -> None:
    hub = LiveHub(depth=2)
    sub = await hub.subscribe(Page(), None)
    for i in range(5):
        await hub.deliver(Changed(frozenset({f"t{i}"})))
    assert sub.behind and not sub.queue
    chunks = [chunk async for chunk in stream(hub, sub)]
    assert chunks[-1] == sse(RELOAD, RELOAD, hub.last_id())
    assert hub.subscribers == 0


async def test_a_reconnect_gets_what_changed_after_its_last_event() -> None:
    hub = LiveHub(history=2)
    await hub.deliver(Changed(frozenset({"t1"})))
    seen = hub.last_id()
    await hub.deliver(Changed(frozenset({"t2"})))
    again = await hub.subscribe(Page(), seen)
    push = await again.next(0)
    assert push is not None and push.events == [("rows", "t2")]
    assert await hub.subscribe(Page(), hub.last_id()) is not None
    quiet = await hub.subscribe(Page(), hub.last_id())
    assert await quiet.next(0) is None and not quiet.behind

    await hub.deliver(Changed(frozenset({"t3"})))
    await hub.deliver(Changed(frozenset({"t4"})))
    assert (await hub.subscribe(Page(), seen)).behind  # forgotten: reload
    assert (await hub.subscribe(Page(), "otherboot.1")).behind  # another process
    assert (await hub.subscribe(Page(), f"{hub.boot}.99")).behind


async def test_a_failing_page_does_not_stop_the_others() -> None:
    class Broken(Page):
        async def render(self, changed: Changed) -> list[Event]:
            raise RuntimeError("boom")

    hub = LiveHub()
    broken, fine = await hub.subscribe(Broken("b"), None), await hub.subscribe(Page(), None)
    await hub.deliver(Changed(frozenset({"t1"})))
    assert await broken.next(0) is None
    assert await fine.next(0) is not None


def test_events_with_several_lines_keep_them() -> None:
    assert sse("rows", "<tr>\n</tr>", "b.1") == "event: rows\nid: b.1\ndata: <tr>\ndata: </tr>\n\n"
    assert sse("many", "") == "event: many\ndata: \n\n"


def test_a_notice_names_at_most_its_limit() -> None:
    many = ChangeNotice.of("a", 3, {str(i) for i in range(1001)}, {"w"})
    assert many.more and many.tasks == [] and many.workers == ["w"]


async def test_stop_ends_the_ticking_even_when_a_notice_arrives_at_the_same_moment() -> None:
    hub = LiveHub()
    ticking = asyncio.create_task(hub.run())
    await asyncio.sleep(0)
    hub.notice(notice("t1"))  # the wake-up and the stop land in the same loop iteration
    hub.stop()
    done, _ = await asyncio.wait({ticking}, timeout=5)
    assert done == {ticking} and ticking.exception() is None
