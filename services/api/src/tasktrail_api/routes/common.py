"""What several routes share: sending a command, and a write that waits for its projection."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import ValidationError
from tasktrail_shared.commands import ARGUMENTS, CommandName, CommandReply

from tasktrail_api.adapters.commands import CommandClient
from tasktrail_api.adapters.eventlog import EventLog, Published
from tasktrail_api.adapters.readmodels import Doc
from tasktrail_api.auth import Principal
from tasktrail_api.envelope import Envelope, ok
from tasktrail_api.errors import ApiError, bad_gateway
from tasktrail_api.schemas import Accepted

POLL_FIRST = 0.01
POLL_MAX = 0.2


async def send_command(
    commands: CommandClient, command: CommandName, args: dict[str, Any], principal: Principal
) -> CommandReply:
    """Check ``args`` against the shared contract, send, and turn a failed command into 502."""
    try:
        checked = ARGUMENTS[command].model_validate(args).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError(400, f"{where}: {first['msg']}") from exc
    reply = await commands.send(command, checked, actor=principal.name)
    if not reply.ok:
        raise bad_gateway(reply.error or f"the {command} command failed")
    return reply


@dataclass(frozen=True, slots=True)
class Outcome:
    published: Published
    doc: Doc | None
    applied: bool


async def wait_for(
    fetch: Callable[[], Awaitable[Doc | None]],
    done: Callable[[Doc | None], bool],
    wait: float,
) -> tuple[Doc | None, bool]:
    """Poll ``fetch`` until ``done`` holds or ``wait`` seconds pass (backing off to 200 ms)."""
    deadline = time.monotonic() + wait
    delay = POLL_FIRST
    while True:
        doc = await fetch()
        if done(doc):
            return doc, True
        left = deadline - time.monotonic()
        if left <= 0:
            return doc, False
        await asyncio.sleep(min(delay, left))
        delay = min(delay * 2, POLL_MAX)


async def publish_and_wait(
    event_log: EventLog,
    event_type: str,
    payload: dict[str, Any],
    fetch: Callable[[], Awaitable[Doc | None]],
    done: Callable[[Doc | None, str], bool],
    wait: float,
) -> Outcome:
    """Read your writes: publish, then wait until the projected document reflects it."""
    published = await event_log.publish(event_type, payload)
    doc, applied = await wait_for(fetch, lambda d: done(d, published.id), wait)
    return Outcome(published, doc, applied)


def accepted(published: Published) -> JSONResponse:
    """202: the write is in the log but not yet in the read model."""
    response = ok({"event_id": published.id, "seq": published.seq, "status": "accepted"})
    response.status_code = 202
    return response


ACCEPTED_RESPONSE: dict[int | str, dict[str, Any]] = {
    202: {
        "model": Envelope[Accepted],
        "description": "Recorded in the log, not yet projected (see event_id)",
    }
}
