"""When ``make run`` brings a child back after it died, and when it stops trying.

The same promise as compose's ``restart: unless-stopped``: a child that exits on its own is
started again after a delay that doubles with each crash in a row (so a child that cannot
start does not spin), the others keep running, and only Ctrl-C stops everything. Unlike
compose, a child that keeps crashing soon after each start is given up on after a number of
tries, with its log tail, rather than retried forever: on a developer's machine that is a
configuration error to read, not an outage to ride out.

Pure: every method takes the time (a monotonic clock reading) as an argument, so the policy
is tested with a made-up clock; :mod:`tasktrail_devstack.stack` does the processes.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from enum import Enum


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """How long to wait before each restart of a crash series, and when to stop restarting."""

    first_delay: float = 0.5
    """Seconds before the first restart of a crash series."""
    factor: float = 2.0
    """Each further restart of the series waits this many times longer than the one before."""
    max_delay: float = 30.0
    """Seconds a restart waits at most, however long the series."""
    stable_after: float = 30.0
    """A run that lasted this long ends the crash series: the next crash starts afresh."""
    give_up_after: int = 10
    """Crashes in one series after which the child stays down."""

    def delay(self, crashes: int) -> float:
        """The wait before restart number ``crashes`` of a series (1, 2, ...)."""
        return float(min(self.first_delay * self.factor ** (crashes - 1), self.max_delay))


@dataclass(frozen=True, slots=True)
class Restart:
    """Start the child again at ``at`` (``delay`` seconds after it was seen gone)."""

    name: str
    ran_for: float
    crashes: int
    """Crashes in the current series, this one included."""
    delay: float
    at: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    """The child crashed ``crashes`` times in a row, each soon after its start: leave it down."""

    name: str
    ran_for: float
    crashes: int
    within: float
    """Each of those runs was shorter than this (the policy's ``stable_after``)."""


Decision = Restart | GiveUp


class State(Enum):
    RUNNING = "running"
    WAITING = "waiting"
    """Exited; a restart is due at ``_Child.restart_at``."""
    GIVEN_UP = "given up"


@dataclass(slots=True)
class _Child:
    started: float
    state: State = State.RUNNING
    crashes: int = 0
    restart_at: float = 0.0


class Supervisor:
    """The restart bookkeeping of named children, driven by what the caller observes."""

    def __init__(self, policy: RestartPolicy | None = None) -> None:
        self.policy = policy or RestartPolicy()
        self._children: dict[str, _Child] = {}

    def started(self, name: str, now: float) -> None:
        """``name`` was started (first start or restart) at ``now``."""
        child = self._children.get(name)
        if child is None:
            self._children[name] = _Child(started=now)
            return
        child.started, child.state = now, State.RUNNING

    def state(self, name: str) -> State:
        return self._children[name].state

    def expects_running(self, name: str) -> bool:
        """Whether ``name`` should be running now: only then is its absence a new exit."""
        return self._children[name].state is State.RUNNING

    def exited(self, name: str, now: float) -> Decision:
        """``name`` was found gone at ``now``: when to restart it, or to give up."""
        child = self._children[name]
        if child.state is not State.RUNNING:
            raise ValueError(f"{name} is {child.state.value}, not running")
        ran_for = max(0.0, now - child.started)
        if ran_for >= self.policy.stable_after:
            child.crashes = 0
        child.crashes += 1
        if child.crashes >= self.policy.give_up_after:
            child.state = State.GIVEN_UP
            return GiveUp(name, ran_for, child.crashes, self.policy.stable_after)
        delay = self.policy.delay(child.crashes)
        child.state, child.restart_at = State.WAITING, now + delay
        return Restart(name, ran_for, child.crashes, delay, now + delay)

    def due(self, now: float) -> list[str]:
        """The children whose restart time has come, in the order they were first started."""
        return [
            name
            for name, child in self._children.items()
            if child.state is State.WAITING and child.restart_at <= now
        ]


def exit_reason(code: int | None) -> str:
    """``-9`` -> ``"killed by SIGKILL"``; ``3`` -> ``"exited with code 3"``."""
    if code is None:
        return "did not start"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def describe(decision: Decision, code: int | None) -> str:
    """One log line for a decision, naming the exit, the run time and what happens next."""
    head = f"{decision.name}: {exit_reason(code)} after {decision.ran_for:.1f} s"
    if isinstance(decision, GiveUp):
        return (
            f"{head}; {decision.crashes} crashes in a row, each within {decision.within:.0f} s"
            " of its start: not restarting it again (Ctrl-C stops the rest)"
        )
    return f"{head}; restart {decision.crashes} of this series in {decision.delay:.1f} s"
