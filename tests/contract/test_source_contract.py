"""The projector's event source port (``tasktrail_projector.ports.EventSource`` and
``Delivery``), checked on the fake and on a JetStream durable consumer alike.

Only what needs no waiting is checked: a message fetched and neither acknowledged nor
nak'ed comes back from JetStream after ``ack_wait``, which the fake does not model (the unit
tests never leave a message so).
"""

from __future__ import annotations

from tasktrail_projector.ports import Delivery

from tests.contract.conftest import Message, SourceUnderTest

SUBJECT = "tasktrail.events.contract.celery.task.sent"


def messages(n: int) -> list[Message]:
    return [(SUBJECT, {"ce-id": f"m{i}"}, f"body {i}".encode()) for i in range(1, n + 1)]


async def delivered_of(log: SourceUnderTest, n: int) -> list[Delivery]:
    """``n`` new messages appended to the log, then fetched until none is left."""
    await log.append(messages(n))
    return await log.fetch_all()


async def acknowledged(deliveries: list[Delivery]) -> None:
    for delivery in deliveries:
        await delivery.ack()


async def nak_ed(deliveries: list[Delivery]) -> None:
    """Each given back to the log for redelivery at once."""
    for delivery in deliveries:
        await delivery.nak(0)


async def nothing_pending(log: SourceUnderTest) -> None:
    """An empty fetch: whatever was fetched has been acknowledged."""
    assert await log.fetch(10, timeout=0.2) == []


async def test_messages_come_in_log_order_at_most_a_batch_at_a_time(log: SourceUnderTest) -> None:
    await log.append(messages(5))
    first = await log.fetch(3)
    rest = await log.fetch_all()
    assert len(first) <= 3
    got = [*first, *rest]
    assert [d.data for d in got] == [f"body {i}".encode() for i in range(1, 6)]
    assert [d.seq for d in got] == sorted(d.seq for d in got) and len({d.seq for d in got}) == 5
    assert all(d.subject == SUBJECT for d in got)
    assert [(d.headers or {}).get("ce-id") for d in got] == [f"m{i}" for i in range(1, 6)]


async def test_nothing_pending_is_an_empty_fetch(log: SourceUnderTest) -> None:
    await nothing_pending(log)
    [only] = await delivered_of(log, 1)
    await only.ack()
    await nothing_pending(log)


async def test_a_nak_ed_message_comes_back_and_an_acknowledged_one_does_not(
    log: SourceUnderTest,
) -> None:
    delivered = await delivered_of(log, 4)
    assert len(delivered) == 4
    await acknowledged(delivered[:2])
    await nak_ed(delivered[2:])
    again = await log.fetch_all()
    assert sorted(d.seq for d in again) == sorted(d.seq for d in delivered[2:])
    by_seq = {d.seq: d for d in delivered}
    for delivery in again:  # the same message: its data and the log's time of it
        assert (delivery.data, delivery.time) == (
            by_seq[delivery.seq].data,
            by_seq[delivery.seq].time,
        )
        await delivery.ack()
    await nothing_pending(log)


async def test_a_fetch_returns_no_more_than_its_batch_even_of_redeliveries(
    log: SourceUnderTest,
) -> None:
    await nak_ed(await delivered_of(log, 3))
    one = await log.fetch(1)
    assert len(one) == 1
    await acknowledged([*one, *await log.fetch_all()])
    await nothing_pending(log)
