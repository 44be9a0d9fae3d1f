"""Keep children running: the process side of :mod:`tasktrail_devstack.supervision`.

:class:`Watch` looks at the children on each :meth:`Watch.poll`, tells the supervisor which
ones are gone, restarts those whose delay is over, and says what it did in one line each.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from tasktrail_devstack.processes import Child, ProcessFailed
from tasktrail_devstack.supervision import GiveUp, RestartPolicy, Supervisor, describe


class Watch:
    """Restarts the children that die, as a :class:`Supervisor` decides, and says so."""

    def __init__(
        self,
        children: Sequence[Child],
        policy: RestartPolicy | None = None,
        *,
        say: Callable[[str], None] = print,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.children = {child.name: child for child in children}
        if len(self.children) != len(children):
            raise ValueError("children to watch need distinct names")
        self.supervisor = Supervisor(policy)
        self.say = say
        self.clock = clock
        now = clock()
        for name in self.children:
            self.supervisor.started(name, now)

    def poll(self) -> None:
        """Note the children found gone, then restart those whose delay is over."""
        now = self.clock()
        for name, child in self.children.items():
            if self.supervisor.expects_running(name) and not child.running:
                decision = self.supervisor.exited(name, now)
                self.say(f"tasktrail: {describe(decision, child.exit_code())}")
                if isinstance(decision, GiveUp):
                    self.say(f"--- last lines of {child.log_path} ---\n{child.log_tail()}")
        for name in self.supervisor.due(now):
            child = self.children[name]
            try:
                child.restart()
            except (ProcessFailed, OSError) as exc:  # seen gone at the next poll: backoff
                self.say(f"tasktrail: {name}: could not restart: {exc}")
            else:
                self.say(f"tasktrail: {name}: restarted (pid {child.pid})")
            self.supervisor.started(name, self.clock())
