"""How far a rebuild has come: messages done of the total, the rate, the time left.

Pure: the caller reads its clock and passes the time in, so the figures and their wording are
tested with made-up clocks. ``adapters/progress_output.py`` writes them: a bar on a terminal,
log lines otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Snapshot:
    done: int
    total: int
    elapsed: float
    """Seconds since the replay began."""

    @property
    def rate(self) -> float:
        """Messages per second since the start (0 until any time has passed)."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def fraction(self) -> float:
        """Done over total, at most 1 (a total from ``--until`` is an upper bound)."""
        return min(1.0, self.done / self.total) if self.total > 0 else 1.0

    @property
    def left(self) -> float | None:
        """Seconds still to go at the rate so far; ``None`` before there is a rate."""
        if self.done >= self.total:
            return 0.0
        rate = self.rate
        return (self.total - self.done) / rate if rate > 0 else None


class Progress:
    """A replay's progress against its total, and when it is time to say so: at the first
    chance (the total, and a first rate), then every ``every`` seconds."""

    def __init__(self, total: int, started: float, every: float) -> None:
        self.total = total
        self.started = started
        self.every = every
        self._next = started

    def at(self, done: int, now: float) -> Snapshot:
        return Snapshot(done, self.total, max(0.0, now - self.started))

    def due(self, now: float) -> bool:
        """Whether ``every`` seconds have passed since the last time this said yes."""
        if now < self._next:
            return False
        self._next = now + self.every
        return True


def duration(seconds: float | None) -> str:
    """``75`` -> ``"1m15s"``; ``3725`` -> ``"1h02m"``; ``None`` -> ``"?"``."""
    if seconds is None:
        return "?"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def line(snapshot: Snapshot) -> str:
    """One log line: ``12,000/48,000 messages (25.0%), 1,500 msg/s, 24s left``."""
    s = snapshot
    return (
        f"{s.done:,}/{s.total:,} messages ({100 * s.fraction:.1f}%), "
        f"{s.rate:,.0f} msg/s, {duration(s.left)} left"
    )


def bar(snapshot: Snapshot, width: int = 30) -> str:
    """A terminal line: ``[#######.......................]  25.0% 12,000/48,000 ...``."""
    filled = int(width * snapshot.fraction)
    s = snapshot
    return (
        f"[{'#' * filled}{'.' * (width - filled)}] {100 * s.fraction:5.1f}% "
        f"{s.done:,}/{s.total:,} messages, {s.rate:,.0f} msg/s, {duration(s.left)} left"
    )


def summary(snapshot: Snapshot) -> str:
    """The last line: ``48,000 messages in 32s, 1,500 msg/s``."""
    s = snapshot
    return f"{s.done:,} messages in {duration(s.elapsed)}, {s.rate:,.0f} msg/s"
