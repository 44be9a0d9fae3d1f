"""Which commands have run: a retried request (same id) gets the first execution's reply.

A claim is a lease: the replica that wins it executes the command and then settles it with
the reply. A retry arriving meanwhile (at any replica) sees :data:`Claim.BUSY` and waits for
the reply; a lease that runs out (its replica died mid-command) can be taken over.
:class:`MemoryLedger` holds for one replica; ``adapters.kv_ledger`` for the whole queue group.
"""

from __future__ import annotations

import enum
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from tasktrail_shared.commands import CommandReply


class Claim(enum.Enum):
    MINE = "mine"
    """Execute it, then :meth:`Ledger.settle` (or :meth:`Ledger.release` if not executed)."""
    BUSY = "busy"
    """Another execution holds the lease: ask again shortly."""


class Ledger(Protocol):
    async def claim(self, command_id: str, lease: float) -> Claim | CommandReply: ...
    async def settle(self, command_id: str, reply: CommandReply) -> None: ...
    async def release(self, command_id: str) -> None: ...


class MemoryLedger:
    """Per-process ledger of the latest ``remembered`` commands."""

    def __init__(self, remembered: int = 1024, clock: Callable[[], float] = time.monotonic) -> None:
        self.remembered = remembered
        self.clock = clock
        """Monotonic seconds, which leases are measured in (a test's clock moves on demand)."""
        self._entries: OrderedDict[str, CommandReply | float] = OrderedDict()

    async def claim(self, command_id: str, lease: float) -> Claim | CommandReply:
        entry = self._entries.get(command_id)
        if isinstance(entry, CommandReply):
            return entry
        if entry is not None and entry > self.clock():
            return Claim.BUSY
        self._put(command_id, self.clock() + lease)
        return Claim.MINE

    async def settle(self, command_id: str, reply: CommandReply) -> None:
        self._put(command_id, reply)

    async def release(self, command_id: str) -> None:
        self._entries.pop(command_id, None)

    def _put(self, command_id: str, entry: CommandReply | float) -> None:
        self._entries[command_id] = entry
        self._entries.move_to_end(command_id)
        while len(self._entries) > self.remembered:
            self._entries.popitem(last=False)
