"""Read your writes: poll a read model until it shows what was written, or time runs out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tasktrail_api.domain.plan import Doc
from tasktrail_api.usecases.ports import Clock

POLL_FIRST = 0.01
POLL_MAX = 0.2


async def wait_for(
    fetch: Callable[[], Awaitable[Doc | None]],
    done: Callable[[Doc | None], bool],
    clock: Clock,
    wait: float,
) -> tuple[Doc | None, bool]:
    """Poll ``fetch`` until ``done`` holds or ``wait`` seconds pass (backing off to 200 ms);
    the last document read, and whether ``done`` held."""
    deadline = clock.monotonic() + wait
    delay = POLL_FIRST
    while True:
        doc = await fetch()
        if done(doc):
            return doc, True
        left = deadline - clock.monotonic()
        if left <= 0:
            return doc, False
        await clock.sleep(min(delay, left))
        delay = min(delay * 2, POLL_MAX)
