"""Waiting for what a running system does next, with give-up deadlines: a test that waits
fails saying what it waited for and the last answer it got, never because of how long it
took (the machine is shared and noisy)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    check: Callable[[], T | None], what: str, timeout: float = 45, interval: float = 0.25
) -> T:
    """``check``'s first truthy answer, asked every ``interval`` seconds; AssertionError after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"gave up waiting for {what}: last={last!r}")


async def eventually(check: Callable[[], Awaitable[T | None]], what: str, timeout: float = 45) -> T:
    """:func:`wait_until` for an asynchronous ``check``, polled without blocking the loop."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"gave up waiting for {what}: last={last!r}")
