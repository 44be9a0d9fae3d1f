"""Execute a command once, record it in the log before and after, reply per worker.

The order is what makes the audit trustworthy: a command whose request cannot be recorded is
not executed; one that was executed is answered even if its completion cannot be recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from typing import Any

from pydantic import ValidationError
from tasktrail_shared.commands import COMPLETED, REQUESTED, CommandReply, CommandRequest
from tasktrail_shared.stream_message import own_event

from tasktrail_control.arguments import CommandError, validate
from tasktrail_control.handlers import HANDLERS, Context, EventPublisher, Remote
from tasktrail_control.ledger import Claim, Ledger, MemoryLedger

log = logging.getLogger(__name__)

LEASE_MARGIN = 5.0
"""Seconds a claim outlives its command's deadline before another replica may take it over."""
BUSY_POLL = 0.1


class Control:
    """Commands are idempotent by id: a retried request gets the first execution's reply."""

    def __init__(
        self,
        app: str,
        remote: Remote,
        publisher: EventPublisher,
        *,
        ledger: Ledger | None = None,
        grace: float = 3.0,
    ) -> None:
        self.app = app
        self.ledger: Ledger = ledger or MemoryLedger()
        self.grace = grace
        self.ctx = Context(app, f"tasktrail/control/{socket.gethostname()}", remote, publisher)

    def deadline(self, request: CommandRequest) -> float:
        """Overall seconds for a command: at most two rounds of worker replies, plus grace."""
        return 2 * request.timeout + self.grace

    async def handle(self, raw: bytes) -> bytes:
        try:
            request = CommandRequest.model_validate_json(raw)
        except ValidationError as exc:
            reply = CommandReply(
                id=_id_of(raw), command="ping", ok=False, error=f"bad request: {exc}"
            )
            return reply.model_dump_json().encode()
        return (await self.execute(request)).model_dump_json().encode()

    async def execute(self, request: CommandRequest) -> CommandReply:
        deadline = self.deadline(request)
        give_up = time.monotonic() + deadline
        while True:
            try:
                claim = await self.ledger.claim(request.id, deadline + LEASE_MARGIN)
            except Exception as exc:
                log.exception("command ledger unavailable")
                return self._failed(request, f"not executed: command ledger unavailable: {exc}")
            if isinstance(claim, CommandReply):
                return self._first_reply(request, claim)
            if claim is Claim.MINE:
                return await self._execute_claimed(request, deadline)
            if time.monotonic() >= give_up:
                return self._failed(request, "still being executed by another control replica")
            await asyncio.sleep(BUSY_POLL)

    async def _execute_claimed(self, request: CommandRequest, deadline: float) -> CommandReply:
        started = time.monotonic()
        args: Any = None
        audit_args = request.args
        error: str | None = None
        try:
            args = validate(request.command, request.args)
            audit_args = args.model_dump(mode="json")
        except CommandError as exc:
            error = str(exc)
        try:
            await self._record(REQUESTED, request, audit_args, None)
        except Exception as exc:
            log.exception("cannot record command %s", request.id)
            with contextlib.suppress(Exception):
                await self.ledger.release(request.id)
            return self._failed(request, f"not executed: cannot record it in the log: {exc}")
        reply = (
            self._failed(request, error)
            if error is not None
            else await self._run(request, args, deadline)
        )
        reply.duration_ms = round((time.monotonic() - started) * 1000, 3)
        try:
            await self._record(COMPLETED, request, audit_args, reply)
        except Exception:
            log.exception("command %s executed but its completion was not recorded", request.id)
        try:
            await self.ledger.settle(request.id, reply)
        except Exception:
            log.exception("command %s executed but not settled in the ledger", request.id)
        return reply

    async def _run(self, request: CommandRequest, args: Any, deadline: float) -> CommandReply:
        handler = HANDLERS[request.command]
        try:
            done = await asyncio.wait_for(handler(self.ctx, args, request), deadline)
        except CommandError as exc:
            return self._failed(request, str(exc))
        except TimeoutError:
            return self._failed(request, f"did not finish within {deadline:g} s")
        except Exception as exc:  # a broker failure must still produce a reply and a record
            log.exception("command %s failed", request.command)
            return self._failed(request, f"execution failed: {exc}")
        return CommandReply(
            id=request.id,
            command=request.command,
            ok=True,
            workers=done.workers,
            result=done.result,
        )

    def _first_reply(self, request: CommandRequest, first: CommandReply) -> CommandReply:
        """The reply of the first execution under this id. An id already used for another
        command is refused rather than answered with that command's reply."""
        if first.command != request.command:
            return self._failed(
                request, f"not executed: command id {request.id!r} was used for {first.command}"
            )
        return first

    def _failed(self, request: CommandRequest, error: str) -> CommandReply:
        return CommandReply(id=request.id, command=request.command, ok=False, error=error)

    async def _record(
        self,
        event_type: str,
        request: CommandRequest,
        args: dict[str, Any],
        reply: CommandReply | None,
    ) -> None:
        payload: dict[str, Any] = {
            "command_id": request.id,
            "command": request.command,
            "actor": request.actor,
            "args": args,
        }
        if reply is not None:
            payload["outcome"] = reply.model_dump(mode="json")
        suffix = "requested" if reply is None else "completed"
        await self.ctx.publisher.publish(
            own_event(
                app=self.app,
                type=event_type,
                payload=payload,
                source=self.ctx.source,
                id=f"{request.id}:{suffix}",
                subject=request.command,
            )
        )


def _id_of(raw: bytes) -> str:
    """The request's id, if it has one, so even a refusal can be matched to its request."""
    with contextlib.suppress(ValueError, AttributeError):
        value = json.loads(raw).get("id")
        if isinstance(value, str):
            return value
    return ""
