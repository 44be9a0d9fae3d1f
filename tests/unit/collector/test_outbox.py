"""Memory first, then the disk spool, and always in arrival order."""

from __future__ import annotations

from pathlib import Path

import pytest
from tasktrail_collector.adapters.disk_spool import DiskSpool, SpoolLocked
from tasktrail_collector.encoding import EncodedMessage
from tasktrail_collector.outbox import Outbox


def message(i: int) -> EncodedMessage:
    return EncodedMessage(b"s", b"h%d" % i, b"d" * 100)


def drain(outbox: Outbox) -> list[bytes]:
    out: list[bytes] = []
    while batch := outbox.take(7):
        out.extend(r.headers for r in batch)
    return out


def test_messages_spill_to_disk_past_the_memory_bound_and_come_back_in_order(
    tmp_path: Path,
) -> None:
    outbox = Outbox(memory_limit=1000, spool=DiskSpool(tmp_path, segment_bytes=2000))
    for i in range(100):
        outbox.put(message(i))
    assert outbox.spooled > 80 and len(outbox) == 100
    first = outbox.take(3)
    outbox.requeue(first[1:])  # sent, not acknowledged: back in front
    outbox.put(message(100))
    assert drain(outbox) == [b"h%d" % i for i in range(1, 101)]
    assert len(outbox) == 0


def test_what_is_left_at_shutdown_is_replayed_by_the_next_collector(tmp_path: Path) -> None:
    outbox = Outbox(memory_limit=500, spool=DiskSpool(tmp_path, segment_bytes=1000))
    for i in range(30):
        outbox.put(message(i))
    assert [r.headers for r in outbox.take(2)] == [b"h0", b"h1"]
    assert outbox.close() == 28
    again = Outbox(memory_limit=500, spool=DiskSpool(tmp_path))
    assert len(again) == 28
    assert drain(again) == [b"h%d" % i for i in range(2, 30)]


def test_messages_with_a_broker_ack_are_never_spooled(tmp_path: Path) -> None:
    outbox = Outbox(memory_limit=0, spool=DiskSpool(tmp_path))
    outbox.put(EncodedMessage(b"s", b"h", b"d", settle=lambda: None))
    assert outbox.in_spool == 0 and len(outbox) == 1
    assert outbox.close() == 0  # dropped: the broker delivers it again


def test_a_torn_tail_is_ignored(tmp_path: Path) -> None:
    spool = DiskSpool(tmp_path)
    spool.append(message(1))
    spool.append(message(2))
    spool.close()
    segment = next(tmp_path.glob("*.spool"))
    segment.write_bytes(segment.read_bytes()[:-5])
    assert [r.headers for r in DiskSpool(tmp_path).load_next()] == [b"h1"]


def test_two_collectors_cannot_share_a_spool(tmp_path: Path) -> None:
    first = DiskSpool(tmp_path)
    with pytest.raises(SpoolLocked):
        DiskSpool(tmp_path)
    first.close()
    DiskSpool(tmp_path).close()


def test_many_messages_at_once_keep_their_order_and_spill_past_the_bound(
    tmp_path: Path,
) -> None:
    outbox = Outbox(memory_limit=1000, spool=DiskSpool(tmp_path, segment_bytes=2000))
    outbox.extend([message(i) for i in range(5)])  # 540 bytes: memory
    outbox.extend([message(i) for i in range(5, 10)])  # memory reaches the bound
    outbox.extend([message(i) for i in range(10, 40)])  # the spool, behind memory
    assert outbox.spooled == 30 and len(outbox) == 40
    assert drain(outbox) == [b"h%d" % i for i in range(40)]
