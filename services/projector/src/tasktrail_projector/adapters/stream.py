"""JetStream source: a durable pull consumer over every event subject.

Replicas share the durable name, so JetStream splits the work between them; acks are
explicit and sent only after the batch is stored, and anything unacknowledged after
``ack_wait`` comes back. A replay (``rebuild``) reads the stream from its first message with
a consumer of its own: a fresh durable the live projector can take over afterwards, or an
ephemeral one that the server forgets once the replay is done.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from tasktrail_shared import nats as shared_nats
from tasktrail_shared.settings import StreamSettings
from tasktrail_shared.stream_message import all_subjects

from tasktrail_projector.ports import SourceUnavailable, StreamExtent

ACK_WAIT = 30.0
MAX_ACK_PENDING = 20_000
EPHEMERAL_IDLE = 300.0
"""An ephemeral replay consumer left behind by a crash is removed after this much idleness."""


class ReplayRefused(ValueError):
    """A replay cannot start: its durable already has a position, or there is no stream."""


@dataclass(frozen=True, slots=True)
class NatsDelivery:
    """A JetStream message seen through :class:`tasktrail_projector.ports.Delivery`."""

    msg: Msg

    @property
    def subject(self) -> str:
        return self.msg.subject

    @property
    def headers(self) -> Mapping[str, str] | None:
        return self.msg.headers

    @property
    def data(self) -> bytes:
        return self.msg.data

    @property
    def seq(self) -> int:
        return int(self.msg.metadata.sequence.stream)

    @property
    def time(self) -> float:
        return self.msg.metadata.timestamp.timestamp()

    async def ack(self) -> None:
        try:
            await self.msg.ack()
        except NatsError as exc:  # the message comes back after ack_wait
            raise SourceUnavailable(f"ack failed: {exc!r}") from exc

    async def nak(self, delay: float) -> None:
        try:
            await self.msg.nak(delay=delay)
        except NatsError as exc:
            raise SourceUnavailable(f"nak failed: {exc!r}") from exc


def consumer_config(durable: str | None, ack_wait: float = ACK_WAIT) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=durable,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=ack_wait,
        max_deliver=-1,
        max_ack_pending=MAX_ACK_PENDING,
        filter_subject=all_subjects(),
        inactive_threshold=None if durable else EPHEMERAL_IDLE,
    )


@dataclass(eq=False)
class JetStreamSource:
    """Implements :class:`tasktrail_projector.ports.EventSource`."""

    nc: Client
    subscription: JetStreamContext.PullSubscription
    stream: str = ""
    consumer: str | None = None
    ephemeral: bool = False

    @classmethod
    async def open(
        cls, url: str, stream: StreamSettings, durable: str, ack_wait: float = ACK_WAIT
    ) -> JetStreamSource:
        """Connect, make sure the stream exists, and bind the durable consumer.

        ``ack_wait`` applies when the consumer is created: it is how long messages a crashed
        replica had fetched wait before they are delivered again.
        """
        nc = await shared_nats.connect(url, name=f"tasktrail-projector-{durable}")
        try:
            js = nc.jetstream()
            await shared_nats.ensure_stream(js, stream)
            subscription = await js.pull_subscribe(
                all_subjects(),
                durable=durable,
                stream=stream.name,
                config=consumer_config(durable, ack_wait),
            )
        except BaseException:
            await nc.close()
            raise
        return cls(nc, subscription, stream.name, durable)

    @classmethod
    async def open_replay(
        cls, url: str, stream: str, durable: str | None
    ) -> tuple[JetStreamSource, StreamExtent]:
        """A consumer from the stream's first message, and what the stream holds now."""
        nc = await shared_nats.connect(url, name="tasktrail-projector-rebuild")
        try:
            js = nc.jetstream()
            try:
                state = (await js.stream_info(stream)).state
                extent = StreamExtent(
                    int(state.first_seq), int(state.last_seq), int(state.messages)
                )
            except NotFoundError as exc:
                raise ReplayRefused(f"stream {stream!r} does not exist") from exc
            if durable is not None:
                with contextlib.suppress(NotFoundError):
                    await js.consumer_info(stream, durable)
                    raise ReplayRefused(f"consumer {durable!r} already exists on {stream}")
            subscription = await js.pull_subscribe(
                all_subjects(), durable=durable, stream=stream, config=consumer_config(durable)
            )
            name = (await subscription.consumer_info()).name
        except BaseException:
            await nc.close()
            raise
        return cls(nc, subscription, stream, name, ephemeral=durable is None), extent

    @property
    def connected(self) -> bool:
        return bool(self.nc.is_connected)

    async def fetch(self, batch: int, timeout: float) -> Sequence[NatsDelivery]:
        try:
            messages = await self.subscription.fetch(batch, timeout=timeout)
        except (NatsTimeoutError, TimeoutError):
            return []
        except NatsError as exc:
            raise SourceUnavailable(f"fetch failed: {exc!r}") from exc
        return [NatsDelivery(m) for m in messages]

    async def close(self, discard: bool = False) -> None:
        """Disconnect; an ephemeral replay consumer (or any, with ``discard``) is deleted."""
        with contextlib.suppress(NatsError):
            await self.subscription.unsubscribe()
        if (self.ephemeral or discard) and self.consumer:
            with contextlib.suppress(NatsError):
                await self.nc.jetstream().delete_consumer(self.stream, self.consumer)
        await self.nc.close()
