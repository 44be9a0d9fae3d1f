"""Pre-encoded HPUBs written through nats-py's internals arrive whole, in order, with replies.

The publisher depends on this behaviour of two private nats-py calls (see
docs/decisions/0004-pipelined-publishes-through-nats-py-internals.md): a new nats-py that
buffers, frames or flushes differently fails here before it loses an event in production.
"""

from __future__ import annotations

import asyncio

import nats
from nats.aio.msg import Msg
from tasktrail_collector.adapters.jetstream_sink import write_pipelined
from tasktrail_collector.encoding import encode_headers


async def test_pipelined_hpubs_arrive_with_their_headers_replies_and_data(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    received: list[Msg] = []
    done = asyncio.Event()

    async def collect(msg: Msg) -> None:
        received.append(msg)
        if len(received) == 3:
            done.set()

    try:
        await nc.subscribe("pipelined.test.*", cb=collect)
        await nc.flush()
        commands = []
        for n in range(3):
            headers = encode_headers({"Nats-Msg-Id": f"id-{n}", "ce-type": "celery.task.sent"})
            data = b'{"n": %d}' % n
            commands.append(
                b"HPUB pipelined.test.%d _ACK.%d %d %d\r\n%b%b\r\n"
                % (n, n, len(headers), len(headers) + len(data), headers, data)
            )
        await write_pipelined(nc, b"".join(commands))
        async with asyncio.timeout(10):
            await done.wait()
    finally:
        await nc.close()
    assert [m.subject for m in received] == [f"pipelined.test.{n}" for n in range(3)]
    assert [m.reply for m in received] == [f"_ACK.{n}" for n in range(3)]
    assert [m.data for m in received] == [b'{"n": %d}' % n for n in range(3)]
    assert [(m.headers or {}).get("Nats-Msg-Id") for m in received] == ["id-0", "id-1", "id-2"]
