"""The real clock: wall-clock time from the system, waiting on the event loop.

The projection loop, the sweeps and the rebuild read the time and wait only through a
:class:`tasktrail_projector.ports.Clock`; this is the one they get unless a test gives them
a clock that moves only when they wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime


class SystemClock:
    """Implements :class:`tasktrail_projector.ports.Clock` with the machine's clocks."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float, stop: asyncio.Event | None = None) -> None:
        if stop is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)


SYSTEM_CLOCK = SystemClock()
