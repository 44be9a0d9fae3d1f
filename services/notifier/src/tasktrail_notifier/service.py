"""The notifier's loop: follow the log from where the open incidents need it, then tick:
evaluate the rules, record the changes, deliver what is pending."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from tasktrail_shared.stream_message import StreamMessage

from tasktrail_notifier.delivery import Deliverer
from tasktrail_notifier.evaluator import Evaluator
from tasktrail_notifier.ports import Log
from tasktrail_notifier.trial import Trials

log = logging.getLogger(__name__)


class Notifier:
    def __init__(
        self,
        evaluator: Evaluator,
        deliverer: Deliverer,
        log_: Log,
        trials: Trials,
        *,
        tick: float,
        lookback: float,
        clock: Callable[[], float],
    ) -> None:
        self.evaluator, self.deliverer, self._log, self._trials = evaluator, deliverer, log_, trials
        self._tick, self._lookback, self._clock = tick, lookback, clock
        self.events = 0
        self.changes = 0

    def _on_message(self, message: StreamMessage, pending: int) -> None:
        self.events += 1
        self.evaluator.on_message(message, pending)

    async def start(self) -> None:
        start = min(await self.evaluator.restore(), self._clock() - self._lookback)
        if await self._log.follow(start, self._on_message) == 0 and not self.events:
            self.evaluator.caught_up = True  # nothing to replay
        await self._log.serve_tests(self._trials.handle)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                self.changes += len(await self.evaluator.tick())
                await self.deliverer.run_once()
            except Exception:
                log.exception("evaluation failed; trying again next tick")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._tick)
        await self.deliverer.drain()

    def counters(self) -> dict[str, int]:
        return {
            "events": self.events,
            "changes": self.changes,
            "open_incidents": len(self.evaluator.book.open),
            "caught_up": int(self.evaluator.caught_up),
        }
