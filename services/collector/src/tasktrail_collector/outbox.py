"""What waits to be published: records in memory up to a bound, then in a disk spool, in order.

Redis pub/sub cannot be told to wait, so the intake never blocks: while NATS is slow or away,
records pile up here, first in memory and, past ``memory_limit`` bytes, in the spool. Once the
spool holds anything, new records go behind it, so the log receives them in arrival order.
Records sent but not acknowledged come back to the front (:meth:`requeue`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Protocol

from tasktrail_collector.records import Record


class Spool(Protocol):
    """Append-only storage of records, read back oldest first (see adapters.disk_spool)."""

    @property
    def records(self) -> int: ...
    def append(self, record: Record) -> None: ...
    def prepend(self, records: list[Record]) -> None: ...
    def load_next(self) -> list[Record]: ...
    def flush(self) -> None: ...
    def close(self) -> None: ...


class Outbox:
    def __init__(self, memory_limit: int, spool: Spool | None = None) -> None:
        self.memory_limit = memory_limit
        self._spool = spool
        self._memory: deque[Record] = deque()
        self._memory_bytes = 0
        self.spooled = 0
        """Records written to the spool since start."""

    def __len__(self) -> int:
        return len(self._memory) + (self._spool.records if self._spool else 0)

    @property
    def spool_records(self) -> int:
        return self._spool.records if self._spool else 0

    def put(self, record: Record) -> None:
        spool = self._spool
        if (
            spool is not None
            and record.settle is None
            and (spool.records or self._memory_bytes >= self.memory_limit)
        ):
            spool.append(record)
            self.spooled += 1
            return
        self._memory.append(record)
        self._memory_bytes += record.size

    def take(self, limit: int) -> list[Record]:
        """Up to ``limit`` records, oldest first."""
        if not self._memory and self._spool is not None and self._spool.records:
            for record in self._spool.load_next():
                self._memory.append(record)
                self._memory_bytes += record.size
        taken: list[Record] = []
        memory = self._memory
        while memory and len(taken) < limit:
            record = memory.popleft()
            self._memory_bytes -= record.size
            taken.append(record)
        return taken

    def requeue(self, records: Iterable[Record]) -> None:
        """Put records that were taken back in front, keeping their order."""
        for record in reversed(list(records)):
            self._memory.appendleft(record)
            self._memory_bytes += record.size

    def flush(self) -> None:
        """Hand spooled bytes to the OS, so a crash of the process does not lose them."""
        if self._spool is not None:
            self._spool.flush()

    def close(self) -> int:
        """Move what memory holds in front of the spool (shutdown); returns records left there.

        Records with a broker ack are dropped: the broker delivers them again.
        """
        if self._spool is None:
            return len(self._memory)
        kept = [r for r in self._memory if r.settle is None]
        if kept:
            self._spool.prepend(kept)
            self.spooled += len(kept)
        self._memory.clear()
        self._memory_bytes = 0
        left = self._spool.records
        self._spool.close()
        return left
