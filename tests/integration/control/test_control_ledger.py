"""The command ledger in a real JetStream key-value bucket: one execution per command id.

The API passes a client's ``Idempotency-Key`` through as the command id, so a repeated id
must get the first execution's reply, from any replica, for as long as the bucket keeps it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client
from tasktrail_control.adapters.kv_ledger import KvLedger
from tasktrail_control.ledger import Claim
from tasktrail_shared.commands import CommandReply


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


async def _ledger(nc: Client, bucket: str) -> KvLedger:
    return await KvLedger.open(nc.jetstream(), bucket=bucket, ttl=60, replicas=1, app="ledger")


async def test_the_first_reply_is_returned_for_a_repeated_id_on_every_replica(nc: Client) -> None:
    bucket = f"ledger_{uuid.uuid4().hex[:8]}"
    one, two = await _ledger(nc, bucket), await _ledger(nc, bucket)
    assert await one.claim("key-1", lease=30) is Claim.MINE
    assert await two.claim("key-1", lease=30) is Claim.BUSY
    first = CommandReply(id="key-1", command="ping", ok=True, result="first")
    await one.settle("key-1", first)
    assert await two.claim("key-1", lease=30) == first
    assert await one.claim("key-1", lease=30) == first
    assert await two.claim("key-2", lease=30) is Claim.MINE  # another id is another command


async def test_a_released_id_can_be_claimed_again(nc: Client) -> None:
    """A command that could not be recorded was not executed: a retry may execute it."""
    ledger = await _ledger(nc, f"ledger_{uuid.uuid4().hex[:8]}")
    assert await ledger.claim("key-1", lease=30) is Claim.MINE
    await ledger.release("key-1")
    assert await ledger.claim("key-1", lease=30) is Claim.MINE
    reply = CommandReply(id="key-1", command="purge", ok=False, error="refused")
    await ledger.settle("key-1", reply)
    assert await ledger.claim("key-1", lease=30) == reply


async def test_a_lease_whose_holder_died_is_taken_over_once(nc: Client) -> None:
    bucket = f"ledger_{uuid.uuid4().hex[:8]}"
    one, two = await _ledger(nc, bucket), await _ledger(nc, bucket)
    assert await one.claim("key-1", lease=-1) is Claim.MINE  # already run out
    assert await two.claim("key-1", lease=30) is Claim.MINE
    assert await one.claim("key-1", lease=30) is Claim.BUSY
