"""What waits to be published: encoded messages in memory up to a bound, then in a disk spool.

Redis pub/sub cannot be told to wait, so the intake never blocks: while NATS is slow or away,
messages pile up here, first in memory and, past ``memory_limit`` bytes, in the spool. Once the
spool holds anything, new messages go behind it, so the log receives them in arrival order.
Messages sent but not acknowledged come back to the front (:meth:`requeue`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Protocol

from tasktrail_collector.encoding import EncodedMessage


class Spool(Protocol):
    """Append-only storage of messages, read back oldest first (see adapters.disk_spool)."""

    @property
    def held(self) -> int:
        """Messages in the spool now."""

    def append(self, message: EncodedMessage) -> None: ...
    def prepend(self, messages: list[EncodedMessage]) -> None: ...
    def load_next(self) -> list[EncodedMessage]: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class Outbox:
    def __init__(self, memory_limit: int, spool: Spool | None = None) -> None:
        self.memory_limit = memory_limit
        self._spool = spool
        self._memory: deque[EncodedMessage] = deque()
        self._memory_bytes = 0
        self.spooled = 0
        """Messages written to the spool since start."""

    def __len__(self) -> int:
        return len(self._memory) + self.in_spool

    @property
    def in_spool(self) -> int:
        return self._spool.held if self._spool else 0

    def put(self, message: EncodedMessage) -> None:
        spool = self._spool
        if (
            spool is not None
            and message.settle is None
            and (spool.held or self._memory_bytes >= self.memory_limit)
        ):
            spool.append(message)
            self.spooled += 1
            return
        self._memory.append(message)
        self._memory_bytes += message.size

    def extend(self, messages: list[EncodedMessage]) -> None:
        """:meth:`put` for many messages at once (without broker acks: the Redis intake)."""
        spool = self._spool
        if spool is not None and (spool.held or self._memory_bytes >= self.memory_limit):
            for message in messages:
                self.put(message)
            return
        self._memory.extend(messages)
        self._memory_bytes += sum([m.size for m in messages])

    def take(self, limit: int) -> list[EncodedMessage]:
        """Up to ``limit`` messages, oldest first."""
        if not self._memory and self._spool is not None and self._spool.held:
            for message in self._spool.load_next():
                self._memory.append(message)
                self._memory_bytes += message.size
        taken: list[EncodedMessage] = []
        memory = self._memory
        while memory and len(taken) < limit:
            message = memory.popleft()
            self._memory_bytes -= message.size
            taken.append(message)
        return taken

    def requeue(self, messages: Iterable[EncodedMessage]) -> None:
        """Put messages that were taken back in front, keeping their order."""
        for message in reversed(list(messages)):
            self._memory.appendleft(message)
            self._memory_bytes += message.size

    def flush(self) -> None:
        """Hand spooled bytes to the OS, so a crash of the process does not lose them."""
        if self._spool is not None:
            self._spool.flush()

    def close(self) -> int:
        """Move what memory holds in front of the spool (shutdown); returns messages left there.

        Messages with a broker ack are dropped: the broker delivers them again.
        """
        if self._spool is None:
            return len(self._memory)
        kept = [m for m in self._memory if m.settle is None]
        if kept:
            self._spool.prepend(kept)
            self.spooled += len(kept)
        self._memory.clear()
        self._memory_bytes = 0
        left = self._spool.held
        self._spool.close()
        return left
