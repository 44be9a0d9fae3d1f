"""A rebuild's progress, written out: a bar redrawn in place on a terminal, log lines otherwise
(a file, a pipe, a container's log): after the first batch, then at most every so often, and
a last line at the end."""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import TextIO

from tasktrail_projector.ports import Clock, ProgressSink
from tasktrail_projector.progress import Progress, Snapshot, bar, line, summary

log = logging.getLogger("tasktrail.projector")

BAR_EVERY = 0.2
"""Seconds between redraws of the bar."""
LOG_EVERY = 10.0
"""Seconds between log lines."""


class _Output(ABC):
    """Implements :class:`ProgressSink`: decides when to show, subclasses how."""

    def __init__(self, clock: Clock, every: float) -> None:
        self.clock = clock
        self.every = every
        self._progress = Progress(0, clock.monotonic(), every)

    def start(self, total: int) -> None:
        self._progress = Progress(total, self.clock.monotonic(), self.every)

    def update(self, done: int) -> None:
        now = self.clock.monotonic()
        if self._progress.due(now):
            self.show(self._progress.at(done, now), final=False)

    def finish(self, done: int) -> None:
        self.show(self._progress.at(done, self.clock.monotonic()), final=True)

    @abstractmethod
    def show(self, snapshot: Snapshot, *, final: bool) -> None: ...


class TerminalBar(_Output):
    """One line, rewritten in place (carriage return, then erase to the end of the line)."""

    def __init__(self, stream: TextIO, clock: Clock, every: float = BAR_EVERY) -> None:
        super().__init__(clock, every)
        self.stream = stream

    def show(self, snapshot: Snapshot, *, final: bool) -> None:
        self.stream.write(f"\rrebuild {bar(snapshot)}\x1b[K")
        if final:
            self.stream.write(f"\nrebuild done: {summary(snapshot)}\n")
        self.stream.flush()


class LogLines(_Output):
    """A log line now and then, through the service's logs."""

    def __init__(self, clock: Clock, every: float = LOG_EVERY) -> None:
        super().__init__(clock, every)

    def show(self, snapshot: Snapshot, *, final: bool) -> None:
        if final:
            log.info("rebuild done: %s", summary(snapshot))
        else:
            log.info("rebuild: %s", line(snapshot))


def progress_output(stream: TextIO, clock: Clock) -> ProgressSink:
    """A bar on ``stream`` if it is a terminal, log lines otherwise."""
    return TerminalBar(stream, clock) if stream.isatty() else LogLines(clock)
