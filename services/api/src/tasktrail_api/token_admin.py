"""Creating and revoking API tokens, for the HTTP endpoints and the CLI alike.

The token store (digests in MongoDB) is what authentication reads; each change is also
published to the log (``tasktrail.token.created`` / ``.revoked``, name, role and actor, never
the secret or its digest), so that ``/monitor/events`` shows who gave or took access.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from tasktrail_shared import own_events

from tasktrail_api.adapters.eventlog import EventLog
from tasktrail_api.adapters.readmodels import ReadModels
from tasktrail_api.auth import new_token, token_digest
from tasktrail_api.errors import ApiError
from tasktrail_api.writes import payload

log = logging.getLogger(__name__)


async def create_token(
    store: ReadModels, event_log: EventLog, name: str, role: str, actor: str
) -> tuple[str, dict[str, Any]]:
    """The new secret and the stored token; undone if its audit event cannot be written."""
    secret = new_token()
    at = datetime.now(UTC)
    await store.add_token(token_digest(secret), name, role, actor, at)
    event = payload(own_events.TOKEN_CREATED, at=at.timestamp(), actor=actor, name=name, role=role)
    try:
        await event_log.publish(own_events.TOKEN_CREATED, event)
    except ApiError:
        await store.remove_token(name)  # no access that the audit trail does not show
        raise
    return secret, {"name": name, "role": role, "created": at, "created_by": actor}


async def revoke_token(store: ReadModels, event_log: EventLog, name: str, actor: str) -> bool:
    """Revoke at once; a revocation whose audit event cannot be written still stands."""
    if not await store.remove_token(name):
        return False
    event = payload(own_events.TOKEN_REVOKED, at=time.time(), actor=actor, name=name)
    try:
        await event_log.publish(own_events.TOKEN_REVOKED, event)
    except ApiError as exc:
        log.warning("token %r revoked, but its audit event was not written: %s", name, exc)
    return True
