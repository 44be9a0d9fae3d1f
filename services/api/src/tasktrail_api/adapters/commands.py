"""Send commands to a cluster's control service over NATS request/reply
(``tasktrail.control.<app>``: one control, a queue group of replicas, per cluster).

The API never talks to Celery: control owns the broker connection and records every command
in the log. No responder or no answer in time means control is down (Unavailable); an
answer that does not parse, or is for another request, is a CommandFailed.
"""

from __future__ import annotations

import logging

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeoutError
from pydantic import ValidationError
from tasktrail_shared import nats as shared_nats
from tasktrail_shared.commands import CommandReply, CommandRequest, control_subject

from tasktrail_api.domain.errors import CommandFailed, Unavailable

log = logging.getLogger(__name__)


class CommandClient:
    def __init__(self, nc: Client, *, timeout: float) -> None:
        self._nc = nc
        self._timeout = timeout

    @property
    def connected(self) -> bool:
        return bool(self._nc.is_connected)

    async def send(self, request: CommandRequest, app: str) -> CommandReply:
        control = f"the control service of cluster {app}"
        try:
            msg = await self._nc.request(
                control_subject(app), request.model_dump_json().encode(), timeout=self._timeout
            )
        except NoRespondersError as exc:
            raise Unavailable(f"{control} is not running") from exc
        except NatsTimeoutError as exc:
            raise Unavailable(f"{control} did not answer in time") from exc
        except NatsError as exc:
            raise Unavailable(f"cannot reach {control}: {exc}") from exc
        try:
            reply = CommandReply.model_validate_json(msg.data)
        except ValidationError as exc:
            log.warning("unreadable reply to command %s: %s", request.id, exc)
            raise CommandFailed("the control service sent an unreadable reply") from exc
        if reply.id != request.id:
            raise CommandFailed("the control service answered another request")
        log.info(
            "command %s %s to %s by %s: ok=%s workers=%d",
            request.id,
            request.command,
            app,
            request.actor,
            reply.ok,
            len(reply.workers),
        )
        return reply


async def open_nats(url: str, app: str) -> Client:
    """One connection for commands and the API's events."""
    return await shared_nats.connect(url, name=f"tasktrail-api-{app}")


async def close_nats(nc: Client) -> None:
    if not nc.is_closed:
        await nc.close()
