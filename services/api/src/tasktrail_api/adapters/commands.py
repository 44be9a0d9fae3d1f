"""Send commands to the control service over NATS request/reply.

The API never talks to Celery: control owns the broker connection and records every command
in the log. No responder or no answer in time means control is down, a 503; an answer that
does not parse, or is for another request, is a 502.
"""

from __future__ import annotations

import logging
from typing import Any

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from pydantic import ValidationError
from tasktrail_shared import nats as shared_nats
from tasktrail_shared.commands import CommandName, CommandReply, CommandRequest, control_subject

from tasktrail_api.errors import bad_gateway, unavailable

log = logging.getLogger(__name__)


class CommandClient:
    def __init__(self, nc: Client, *, app: str, timeout: float, worker_timeout: float) -> None:
        self._nc = nc
        self._subject = control_subject(app)
        self._timeout = timeout
        self._worker_timeout = worker_timeout

    @property
    def connected(self) -> bool:
        return bool(self._nc.is_connected)

    async def send(self, command: CommandName, args: dict[str, Any], actor: str) -> CommandReply:
        request = CommandRequest(
            command=command, args=args, actor=actor, timeout=self._worker_timeout
        )
        try:
            msg = await self._nc.request(
                self._subject, request.model_dump_json().encode(), timeout=self._timeout
            )
        except NoRespondersError as exc:
            raise unavailable("the control service is not running") from exc
        except NatsTimeoutError as exc:
            raise unavailable("the control service did not answer in time") from exc
        except NatsError as exc:
            raise unavailable(f"cannot reach the control service: {exc}") from exc
        try:
            reply = CommandReply.model_validate_json(msg.data)
        except ValidationError as exc:
            log.warning("unreadable reply to command %s: %s", request.id, exc)
            raise bad_gateway("the control service sent an unreadable reply") from exc
        if reply.id != request.id:
            raise bad_gateway("the control service answered another request")
        log.info(
            "command %s %s by %s: ok=%s workers=%d",
            request.id,
            command,
            actor,
            reply.ok,
            len(reply.workers),
        )
        return reply


async def open_nats(url: str, app: str) -> Client:
    """One connection for commands and the event log."""
    return await shared_nats.connect(url, name=f"tasktrail-api-{app}")


async def close_nats(nc: Client) -> None:
    if not nc.is_closed:
        await nc.close()
