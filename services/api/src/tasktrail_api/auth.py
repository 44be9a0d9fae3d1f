"""Who is calling, and may they do this.

A token arrives as ``Authorization: Bearer <t>``, ``Authorization: Token <t>`` (the original
API's DRF style) or ``?access_token=<t>`` (for browsers and scripts that cannot set headers);
the token use case says whom it stands for, and the organisations use case what they may
see (``CallerScope``; ``ViewerScope`` for reads, which need no more than the viewer role).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader, APIKeyQuery

from tasktrail_api.deps import UseCasesDep
from tasktrail_api.domain.errors import Forbidden, Unauthorized
from tasktrail_api.domain.principals import Principal, Role
from tasktrail_api.domain.scope import Scope

SCHEMES = ("bearer", "token")


def parse_authorization(header: str | None) -> str | None:
    """The token in an ``Authorization`` header; ``None`` if absent; Unauthorized if malformed."""
    if header is None or not header.strip():
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in SCHEMES or not token or " " in token:
        raise Unauthorized("Authorization must be 'Bearer <token>' or 'Token <token>'")
    return token


def credentials(header: str | None, access_token: str | None) -> str | None:
    """The header wins over the query parameter, so a proxy-added header cannot be overridden."""
    token = parse_authorization(header)
    if token is not None:
        return token
    return access_token or None


_header = APIKeyHeader(
    name="Authorization", auto_error=False, description="'Bearer <token>' or 'Token <token>'"
)
_query = APIKeyQuery(name="access_token", auto_error=False)


async def authenticate(
    use_cases: UseCasesDep,
    header: Annotated[str | None, Security(_header)],
    access_token: Annotated[str | None, Security(_query)],
) -> Principal:
    token = credentials(header, access_token)
    if token is None:
        raise Unauthorized("authentication required")
    return await use_cases.tokens.identify(token)


Authenticated = Annotated[Principal, Depends(authenticate)]


async def offered_token(
    header: Annotated[str | None, Security(_header)],
    access_token: Annotated[str | None, Security(_query)],
) -> str | None:
    """The token the request carries, if any: for a route whose need of one is a setting."""
    return credentials(header, access_token)


OfferedToken = Annotated[str | None, Depends(offered_token)]


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Authenticated) -> Principal:
        if principal.role < role:
            raise Forbidden(f"this needs the {role.name} role")
        return principal

    return check


Viewer = Annotated[Principal, Depends(require(Role.viewer))]
Operator = Annotated[Principal, Depends(require(Role.operator))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
CALLERS = {Role.viewer: Viewer, Role.operator: Operator, Role.admin: Admin}
"""The dependency that admits callers of at least each role."""


async def scope_of(use_cases: UseCasesDep, principal: Authenticated) -> Scope:
    """What the caller may see and command (the token is read once per request)."""
    return await use_cases.orgs.scope(principal)


CallerScope = Annotated[Scope, Depends(scope_of)]


async def _read_scope(_: Viewer, scope: CallerScope) -> Scope:
    return scope


ViewerScope = Annotated[Scope, Depends(_read_scope)]
"""What a read may see: the caller needs at least the viewer role, and sees their scope."""
