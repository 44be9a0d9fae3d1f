"""One handler per command, found by name in :data:`HANDLERS`.

Handlers receive the arguments already checked against the contract's model (which holds
every rule about them), talk to Celery only through :class:`Remote` and to the log only
through :class:`EventPublisher`, and return what was done: an outcome per worker and a
command-specific result.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Protocol

from tasktrail_shared.commands import (
    CommandRequest,
    PurgeArgs,
    RefreshArgs,
    RetryArgs,
    RevokeArgs,
    RevokeByStampedHeadersArgs,
    RunArgs,
    ShutdownArgs,
    SyncArgs,
    WorkerOutcome,
)
from tasktrail_shared.stream_message import StreamMessage

from tasktrail_control.arguments import CommandError
from tasktrail_control.events import INSPECTIONS, Origin, inspected, labelled, reconciled
from tasktrail_control.outcomes import (
    answered_data,
    for_named_workers,
    from_replies,
    with_missing,
)

PUBLISH_BATCH = 256
"""Events published concurrently: a sync of thousands of tasks must not pay one round trip each."""


@dataclass(frozen=True, slots=True)
class Dispatch:
    """A task to send by name, with Celery's ``send_task`` options (``run`` and ``retry``)."""

    name: str
    args: list[Any]
    kwargs: dict[str, Any]
    queue: str | None = None
    eta: datetime | None = None
    countdown: float | None = None
    time_limit: float | None = None
    soft_time_limit: float | None = None

    @classmethod
    def of(cls, run: RunArgs) -> Dispatch:
        """The task a ``run`` command describes: its fields are named as this class's."""
        return cls(**{item.name: getattr(run, item.name) for item in fields(cls)})


@dataclass(frozen=True, slots=True)
class Broadcast:
    """A remote-control command to the named workers (``None``: every worker), answered by
    each within ``timeout`` seconds."""

    command: str
    timeout: float
    names: list[str] | None = None
    arguments: Mapping[str, Any] = field(default_factory=dict)


class Remote(Protocol):
    """Celery, as control uses it (``adapters.celery_remote``)."""

    @property
    def has_result_backend(self) -> bool: ...
    async def broadcast(self, request: Broadcast) -> list[dict[str, Any]]: ...
    async def shutdown(self, names: list[str]) -> None: ...
    async def lookup(self, ids: list[str]) -> list[dict[str, Any]]: ...
    async def purge(self, queue: str) -> int: ...
    async def send(self, task: Dispatch) -> str:
        """Send the task; its new id."""
        ...


class EventPublisher(Protocol):
    """Publishes control's events (the command audit, inspections, reconciliations) to the
    log, and returns once JetStream has stored them (``adapters.bus``)."""

    async def publish(self, message: StreamMessage) -> None: ...


@dataclass(frozen=True)
class Context:
    app: str
    source: str
    remote: Remote
    publisher: EventPublisher

    def origin(self, request: CommandRequest) -> Origin:
        """What the events ``request`` leads to say of where they come from, as of now."""
        return Origin(self.app, self.source, request.id, request.actor, time.time())

    async def publish_all(self, messages: Sequence[StreamMessage]) -> None:
        for start in range(0, len(messages), PUBLISH_BATCH):
            batch = messages[start : start + PUBLISH_BATCH]
            await asyncio.gather(*(self.publisher.publish(message) for message in batch))


@dataclass
class Done:
    workers: dict[str, WorkerOutcome] = field(default_factory=dict)
    result: Any = None


Handler = Callable[[Context, Any, CommandRequest], Awaitable[Done]]


async def revoke(ctx: Context, args: RevokeArgs, request: CommandRequest) -> Done:
    """Every worker is told, since any of them may hold the task (reserved or running)."""
    arguments = {"task_id": args.ids, "terminate": args.terminate, "signal": args.signal}
    replies = await ctx.remote.broadcast(Broadcast("revoke", request.timeout, arguments=arguments))
    return Done(from_replies(replies))


async def revoke_by_stamped_headers(
    ctx: Context, args: RevokeByStampedHeadersArgs, request: CommandRequest
) -> Done:
    arguments = {
        "headers": args.headers,
        "terminate": args.terminate,
        "signal": args.signal,
    }
    replies = await ctx.remote.broadcast(
        Broadcast("revoke_by_stamped_headers", request.timeout, arguments=arguments)
    )
    return Done(from_replies(replies))


async def shutdown(ctx: Context, args: ShutdownArgs, request: CommandRequest) -> Done:
    """A worker shuts down before it can reply, so a ping first tells which ones exist."""
    answered = from_replies(
        await ctx.remote.broadcast(Broadcast("ping", request.timeout, args.names))
    )
    alive = [name for name in args.names if name in answered]
    if alive:
        await ctx.remote.shutdown(alive)
    return Done(for_named_workers(args.names, answered, "shutdown"))


def on_workers(command: str, arguments: Callable[[Any], dict[str, Any]]) -> Handler:
    """A Celery control command to ``args.names`` (every worker if absent), one reply each."""

    async def handle(ctx: Context, args: Any, request: CommandRequest) -> Done:
        sent = Broadcast(command, request.timeout, args.names, arguments(args))
        replies = await ctx.remote.broadcast(sent)
        return Done(with_missing(args.names, from_replies(replies)))

    return handle


async def refresh(ctx: Context, args: RefreshArgs, request: CommandRequest) -> Done:
    """Ping, then inspect only the workers that answered, so no inspect waits for a timeout."""
    names = args.names
    wanted = list(dict.fromkeys([*(names or []), *args.expected]))
    pinged = Broadcast("ping", request.timeout, None if names is None else wanted)
    answered = from_replies(await ctx.remote.broadcast(pinged))
    alive = sorted(answered)
    answers: dict[str, dict[str, Any]] = {host: {} for host in alive}
    if alive:
        replies = await asyncio.gather(
            *(ctx.remote.broadcast(Broadcast(name, request.timeout, alive)) for name in INSPECTIONS)
        )
        for name, reply in zip(INSPECTIONS, replies, strict=True):
            for host, data in answered_data(from_replies(reply)).items():
                if host in answers:
                    answers[host][name] = data
    origin = ctx.origin(request)
    unreachable = [name for name in args.expected if name not in answered]
    await ctx.publish_all(
        [inspected(origin, host, answers[host]) for host in alive]
        + [inspected(origin, name, None) for name in unreachable]
    )
    workers = {host: WorkerOutcome(status="ok", detail="inspected") for host in alive}
    return Done(with_missing(wanted, workers))


async def sync(ctx: Context, args: SyncArgs, request: CommandRequest) -> Done:
    """Fill in what the events missed, from the result backend; ``result``: tasks found."""
    if not ctx.remote.has_result_backend:
        raise CommandError(
            "sync reads the result backend and none is configured: "
            "set TASKTRAIL_RESULT_BACKEND for the control service"
        )
    metas = await ctx.remote.lookup(args.ids)
    origin = ctx.origin(request)
    found = [reconciled(origin, meta) for meta in metas]
    events = [event for event in found if event is not None]
    await ctx.publish_all(events)
    return Done(result=len(events))


async def purge(ctx: Context, args: PurgeArgs, request: CommandRequest) -> Done:
    return Done(result=await ctx.remote.purge(args.queue))


async def run(ctx: Context, args: RunArgs, request: CommandRequest) -> Done:
    """Send the task; with ``labels``, record them for the new task once it is sent (a run
    that was not sent leaves no record behind)."""
    task_id = await ctx.remote.send(Dispatch.of(args))
    if args.labels is not None:
        await ctx.publisher.publish(labelled(ctx.origin(request), task_id, args))
    return Done(result=task_id)


async def retry(ctx: Context, args: RetryArgs, request: CommandRequest) -> Done:
    """A new task with the original's name and arguments (the original ``id`` is audit only)."""
    task_args, task_kwargs = args.original_arguments()
    task_id = await ctx.remote.send(Dispatch(args.name, task_args, task_kwargs, queue=args.queue))
    return Done(result=task_id)


HANDLERS: dict[str, Handler] = {
    "revoke": revoke,
    "revoke_by_stamped_headers": revoke_by_stamped_headers,
    "shutdown": shutdown,
    "ping": on_workers("ping", lambda a: {}),
    "refresh": refresh,
    "sync": sync,
    "pool_grow": on_workers("pool_grow", lambda a: {"n": a.n}),
    "pool_shrink": on_workers("pool_shrink", lambda a: {"n": a.n}),
    "autoscale": on_workers("autoscale", lambda a: {"max": a.max, "min": a.min}),
    "rate_limit": on_workers(
        "rate_limit", lambda a: {"task_name": a.task_name, "rate_limit": a.rate}
    ),
    "time_limit": on_workers(
        "time_limit", lambda a: {"task_name": a.task_name, "soft": a.soft, "hard": a.hard}
    ),
    "add_consumer": on_workers(
        "add_consumer",
        lambda a: {"queue": a.queue, "exchange": a.exchange, "routing_key": a.routing_key},
    ),
    "cancel_consumer": on_workers("cancel_consumer", lambda a: {"queue": a.queue}),
    "purge": purge,
    "run": run,
    "retry": retry,
}
"""Command name -> handler; every name of the contract's ``CommandName`` has one."""
