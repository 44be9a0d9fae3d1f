"""An append-only spool of encoded messages in segment files, for while NATS cannot take them.

Each segment ``<n>.spool`` is a run of ``>HII`` length prefixes (subject, headers, data)
followed by the bytes. Segments are read back in number order and deleted once loaded; what
a collector left behind is replayed by the next one started on the same directory (a lock
file keeps two from sharing it). A crash loses at most the unflushed tail of the current
segment and the messages loaded into memory.
"""

from __future__ import annotations

import fcntl
import struct
from pathlib import Path
from typing import BinaryIO

from tasktrail_collector.encoding import EncodedMessage

_HEAD = struct.Struct(">HII")
FIRST = 1_000_000_000
"""Segment numbers start here so that a shutdown can prepend below the oldest."""


class SpoolLocked(RuntimeError):
    """Another collector uses this spool directory."""


class DiskSpool:
    def __init__(self, directory: Path, segment_bytes: int = 8 * 1024 * 1024) -> None:
        self.directory = directory
        self.segment_bytes = segment_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = (directory / "lock").open("a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock.close()
            raise SpoolLocked(f"spool directory {directory} is in use") from exc
        self._counts = {n: self._count(self._path(n)) for n in self._segments()}
        self._writer: BinaryIO | None = None
        self._writing = max(self._counts, default=FIRST - 1) + 1
        self._written = 0

    @property
    def held(self) -> int:
        return sum(self._counts.values())

    def _path(self, n: int) -> Path:
        return self.directory / f"{n}.spool"

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob("*.spool") if p.stem.isdigit())

    @staticmethod
    def _encode(message: EncodedMessage) -> bytes:
        head = _HEAD.pack(len(message.subject), len(message.headers), len(message.data))
        return head + message.subject + message.headers + message.data

    def _count(self, path: Path) -> int:
        return len(self._read(path))

    @staticmethod
    def _read(path: Path) -> list[EncodedMessage]:
        raw = path.read_bytes()
        messages, pos = [], 0
        while pos + _HEAD.size <= len(raw):
            s, h, d = _HEAD.unpack_from(raw, pos)
            pos += _HEAD.size
            if pos + s + h + d > len(raw):
                break  # a torn tail from a crash
            subject, headers = raw[pos : pos + s], raw[pos + s : pos + s + h]
            messages.append(EncodedMessage(subject, headers, raw[pos + s + h : pos + s + h + d]))
            pos += s + h + d
        return messages

    def append(self, message: EncodedMessage) -> None:
        if self._writer is None:
            self._writer = self._path(self._writing).open("ab")
            self._counts[self._writing] = 0
        self._writer.write(self._encode(message))
        self._counts[self._writing] += 1
        self._written += message.size
        if self._written >= self.segment_bytes:
            self._rotate()

    def _rotate(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self._writing += 1
            self._written = 0

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def prepend(self, messages: list[EncodedMessage]) -> None:
        n = min(self._counts, default=self._writing) - 1
        path = self._path(n)
        path.write_bytes(b"".join(self._encode(m) for m in messages))
        self._counts[n] = len(messages)

    def load_next(self) -> list[EncodedMessage]:
        """The oldest segment's messages; the segment is deleted."""
        if not self._counts:
            return []
        n = min(self._counts)
        if n == self._writing:
            self._rotate()
        path = self._path(n)
        messages = self._read(path)
        path.unlink()
        del self._counts[n]
        return messages

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for n, count in list(self._counts.items()):
            if count == 0:
                self._path(n).unlink(missing_ok=True)
                del self._counts[n]
        fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()
