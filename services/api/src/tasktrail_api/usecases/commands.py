"""Sending a command to the control service: the one way every entrypoint does it.

Arguments are checked against the shared contract before anything is sent. An
``Idempotency-Key`` becomes the command id, scoped by the caller, so control's ledger
executes a repeated request once and answers it with the first reply.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from tasktrail_shared.commands import ARGUMENTS, CommandName, CommandReply, CommandRequest

from tasktrail_api.domain.errors import BadRequest, CommandFailed
from tasktrail_api.domain.principals import Principal
from tasktrail_api.usecases.ports import CommandSender

MAX_COMMAND_ID = 255
"""The longest command id the contract carries (``CommandRequest.id``)."""
REST_API = "REST API"
"""The ``origin`` control records for commands sent through the REST routes."""


def command_id(caller: Principal, key: str | None) -> str:
    """The caller's ``Idempotency-Key`` under their name (two callers choosing the same key
    do not share a reply), its digest when the two are too long together; a fresh id
    without a key."""
    if key is None:
        return uuid.uuid4().hex
    scoped = f"{caller.name}/{key}"
    if len(scoped) <= MAX_COMMAND_ID:
        return scoped
    return f"{caller.name}/sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def sub_key(key: str | None, part: int) -> str | None:
    """The key of one of several commands one request sends (``sync`` in chunks)."""
    return None if key is None else f"{key}#{part}"


class Commands:
    def __init__(self, sender: CommandSender, *, worker_timeout: float) -> None:
        self._sender = sender
        self._worker_timeout = worker_timeout

    @property
    def connected(self) -> bool:
        return self._sender.connected

    async def send(
        self,
        command: CommandName,
        args: Mapping[str, Any],
        caller: Principal,
        key: str | None = None,
        *,
        origin: str = REST_API,
    ) -> CommandReply:
        """Check ``args`` against the contract, send, and return the successful reply;
        control records the command with the caller as actor and ``origin``."""
        try:
            checked = ARGUMENTS[command].model_validate(args).model_dump(mode="json")
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "body"
            raise BadRequest.field(where, first["msg"]) from exc
        request = CommandRequest(
            id=command_id(caller, key),
            command=command,
            args=checked,
            actor=caller.name,
            origin=origin,
            timeout=self._worker_timeout,
        )
        reply = await self._sender.send(request)
        if reply.command != command:
            raise CommandFailed("the control service answered another command")
        if not reply.ok:  # control refuses a key used before for another command, too
            raise CommandFailed(reply.error or f"the {command} command failed")
        return reply
