"""API tokens: who a token stands for, and creating, listing and revoking them, for the
HTTP endpoints and the CLI alike.

The token store (digests in MongoDB) is what authentication reads; each change is also
published to the log (``tasktrail.token.created`` / ``.revoked``: name, role, organisation
and actor, never the secret or its digest), so that ``/monitor/events`` shows who gave or
took access. Every token belongs to one organisation, or is a root token; an organisation's
admins manage only its own tokens.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import KW_ONLY, dataclass
from typing import Any

from tasktrail_shared import own_events

from tasktrail_api.domain import serializers
from tasktrail_api.domain.errors import Forbidden, NotFound, Unauthorized, Unavailable
from tasktrail_api.domain.principals import (
    ADMIN,
    Principal,
    new_token,
    principal_from_token,
    qualified_name,
    token_digest,
    token_org,
)
from tasktrail_api.domain.writes import payload
from tasktrail_api.usecases.orgs import Orgs
from tasktrail_api.usecases.ports import Clock, EventPublisher, TokenStore

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Tokens:
    store: TokenStore
    publisher: EventPublisher | None
    """``None`` for reads only (the CLI's ``list`` needs no NATS): changes are refused."""
    clock: Clock
    orgs: Orgs
    _: KW_ONLY
    admin_token: str | None

    async def identify(self, token: str) -> Principal:
        """The caller ``token`` stands for; Unauthorized if none."""
        return await self.identify_digest(token_digest(token))

    async def identify_digest(self, digest: str) -> Principal:
        """The caller of the token whose digest is ``digest`` (what a web session keeps, so
        that the session never holds the token and a revoked token ends it)."""
        if self.admin_token and hmac.compare_digest(digest, token_digest(self.admin_token)):
            return ADMIN
        principal = principal_from_token(await self.store.get_token(digest), digest)
        if principal is None:
            raise Unauthorized("invalid token")
        return principal

    def _audit_log(self) -> EventPublisher:
        if self.publisher is None:
            raise Unavailable("token changes are audited, and no event log is open")
        return self.publisher

    async def create(
        self, name: str, role: str, caller: Principal, org: str | None
    ) -> tuple[str, dict[str, Any]]:
        """A token of organisation ``org`` (``None``: a root token); the new secret and the
        token as shown. A root caller creates in any organisation, and root tokens; any other
        only in its own (another organisation is NotFound, as if it did not exist). Undone
        if its audit event cannot be written."""
        publisher = self._audit_log()
        await self._check_org(caller, org)
        secret = new_token()
        at = self.clock.now()
        qualified = qualified_name(org, name)
        await self.store.add_token(token_digest(secret), qualified, role, caller.name, at, org)
        event = payload(
            own_events.TOKEN_CREATED, at=at.timestamp(), actor=caller.name, name=name,
            role=role, org=org,
        )  # fmt: skip
        try:
            await publisher.publish(own_events.TOKEN_CREATED, event)
        except Exception:
            await self.store.remove_token(qualified)  # no access the audit trail does not show
            raise
        stored = {"name": qualified, "role": role, "created": at, "created_by": caller.name}
        return secret, serializers.token({**stored, "org": org})

    async def _check_org(self, caller: Principal, org: str | None) -> None:
        if org is None and not caller.is_root:
            raise Forbidden("only a root token may create root tokens")
        if org is not None and not caller.is_root and org != caller.org:
            raise NotFound.named("organisation")
        if org is not None and org not in (await self.orgs.directory()).orgs:
            raise NotFound.named("organisation")

    async def list(self, caller: Principal) -> list[dict[str, Any]]:
        """Every token for a root caller; the caller's organisation's otherwise."""
        docs = await self.store.list_tokens()
        mine = [doc for doc in docs if caller.is_root or token_org(doc) == caller.org]
        return [serializers.token(doc) for doc in mine]

    async def revoke(self, name: str, caller: Principal, org: str | None) -> None:
        """Revoke at once the token ``name`` of organisation ``org`` (``None``: a root or
        default organisation's token, whose names are shared); NotFound for another
        organisation's unless the caller is root. A revocation whose audit event cannot be
        written still stands."""
        publisher = self._audit_log()
        qualified = qualified_name(org, name)
        held = await self.store.token_named(qualified)
        if held is None or not (caller.is_root or token_org(held) == caller.org):
            raise NotFound.named("token")
        if not await self.store.remove_token(qualified):
            raise NotFound.named("token")
        at = self.clock.now().timestamp()
        event = payload(
            own_events.TOKEN_REVOKED, at=at, actor=caller.name, name=name, org=token_org(held)
        )
        try:
            await publisher.publish(own_events.TOKEN_REVOKED, event)
        except Exception as exc:
            log.warning("token %r revoked, but its audit event was not written: %s", name, exc)
