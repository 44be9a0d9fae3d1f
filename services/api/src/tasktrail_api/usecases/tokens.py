"""API tokens: who a token stands for, and creating, listing and revoking them, for the
HTTP endpoints and the CLI alike.

The token store (digests in MongoDB) is what authentication reads; each change is also
published to the log (``tasktrail.token.created`` / ``.revoked``, name, role and actor, never
the secret or its digest), so that ``/monitor/events`` shows who gave or took access.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from tasktrail_shared import own_events

from tasktrail_api.domain import serializers
from tasktrail_api.domain.errors import NotFound, Unauthorized, Unavailable
from tasktrail_api.domain.principals import (
    ADMIN,
    Principal,
    new_token,
    principal_from_token,
    token_digest,
)
from tasktrail_api.domain.writes import payload
from tasktrail_api.usecases.ports import Clock, EventPublisher, TokenStore

log = logging.getLogger(__name__)


class Tokens:
    def __init__(
        self,
        store: TokenStore,
        publisher: EventPublisher | None,
        clock: Clock,
        *,
        admin_token: str | None,
    ) -> None:
        self._store = store
        self._publisher = publisher
        """``None`` for reads only (the CLI's ``list`` needs no NATS): changes are refused."""
        self._clock = clock
        self._admin_token = admin_token

    async def identify(self, token: str) -> Principal:
        """The caller ``token`` stands for; Unauthorized if none."""
        return await self.identify_digest(token_digest(token))

    async def identify_digest(self, digest: str) -> Principal:
        """The caller of the token whose digest is ``digest`` (what a web session keeps, so
        that the session never holds the token and a revoked token ends it)."""
        if self._admin_token and hmac.compare_digest(digest, token_digest(self._admin_token)):
            return ADMIN
        principal = principal_from_token(await self._store.get_token(digest), digest)
        if principal is None:
            raise Unauthorized("invalid token")
        return principal

    def _audit_log(self) -> EventPublisher:
        if self._publisher is None:
            raise Unavailable("token changes are audited, and no event log is open")
        return self._publisher

    async def create(self, name: str, role: str, actor: str) -> tuple[str, dict[str, Any]]:
        """The new secret and the token as shown; undone if its audit event cannot be written."""
        publisher = self._audit_log()
        secret = new_token()
        at = self._clock.now()
        await self._store.add_token(token_digest(secret), name, role, actor, at)
        event = payload(
            own_events.TOKEN_CREATED, at=at.timestamp(), actor=actor, name=name, role=role
        )
        try:
            await publisher.publish(own_events.TOKEN_CREATED, event)
        except Exception:
            await self._store.remove_token(name)  # no access that the audit trail does not show
            raise
        shown = serializers.token({"name": name, "role": role, "created": at, "created_by": actor})
        return secret, shown

    async def list(self) -> list[dict[str, Any]]:
        return [serializers.token(doc) for doc in await self._store.list_tokens()]

    async def revoke(self, name: str, actor: str) -> None:
        """Revoke at once; a revocation whose audit event cannot be written still stands."""
        publisher = self._audit_log()
        if not await self._store.remove_token(name):
            raise NotFound.named("token")
        at = self._clock.now().timestamp()
        event = payload(own_events.TOKEN_REVOKED, at=at, actor=actor, name=name)
        try:
            await publisher.publish(own_events.TOKEN_REVOKED, event)
        except Exception as exc:
            log.warning("token %r revoked, but its audit event was not written: %s", name, exc)
