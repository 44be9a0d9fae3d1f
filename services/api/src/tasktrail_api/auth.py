"""Who is calling, and may they do this.

A token arrives as ``Authorization: Bearer <t>``, ``Authorization: Token <t>`` (the original
API's DRF style) or ``?access_token=<t>`` (for browsers and scripts that cannot set headers).
Tokens are stored only as sha256 digests in the ``tokens`` collection; ``TASKTRAIL_ADMIN_TOKEN``
is an admin token that works before any token exists.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, Any

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader, APIKeyQuery

from tasktrail_api.deps import ReadModelsDep, SettingsDep
from tasktrail_api.errors import forbidden, unauthorized

SCHEMES = ("bearer", "token")
ADMIN_NAME = "admin"


class Role(IntEnum):
    """Ordered: a role may do everything the roles below it may."""

    viewer = 1
    operator = 2
    admin = 3


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role


def parse_authorization(header: str | None) -> str | None:
    """The token in an ``Authorization`` header; ``None`` if absent; 401 if malformed."""
    if header is None or not header.strip():
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() not in SCHEMES or not token or " " in token:
        raise unauthorized("Authorization must be 'Bearer <token>' or 'Token <token>'")
    return token


def credentials(header: str | None, access_token: str | None) -> str | None:
    """The header wins over the query parameter, so a proxy-added header cannot be overridden."""
    token = parse_authorization(header)
    if token is not None:
        return token
    return access_token or None


def token_digest(token: str) -> str:
    """Tokens are 256 random bits, so a plain sha256 is enough (no password stretching)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return f"tt_{secrets.token_urlsafe(32)}"


def principal_from_record(record: Mapping[str, Any] | None, digest: str) -> Principal | None:
    """A stored token, if it matches ``digest`` and names a known role."""
    if record is None or not hmac.compare_digest(str(record.get("_id", "")), digest):
        return None
    try:
        role = Role[str(record.get("role"))]
    except KeyError:
        return None
    return Principal(name=str(record.get("name") or digest[:12]), role=role)


def is_admin_token(token: str, admin_token: str | None) -> bool:
    if not admin_token:
        return False
    return hmac.compare_digest(token_digest(token), token_digest(admin_token))


_header = APIKeyHeader(
    name="Authorization", auto_error=False, description="'Bearer <token>' or 'Token <token>'"
)
_query = APIKeyQuery(name="access_token", auto_error=False)


async def authenticate(
    settings: SettingsDep,
    read_models: ReadModelsDep,
    header: Annotated[str | None, Security(_header)],
    access_token: Annotated[str | None, Security(_query)],
) -> Principal:
    token = credentials(header, access_token)
    if token is None:
        raise unauthorized("authentication required")
    if is_admin_token(token, settings.admin_token):
        return Principal(name=ADMIN_NAME, role=Role.admin)
    digest = token_digest(token)
    principal = principal_from_record(await read_models.get_token(digest), digest)
    if principal is None:
        raise unauthorized("invalid token")
    return principal


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if principal.role < role:
            raise forbidden(f"this needs the {role.name} role")
        return principal

    return check


Viewer = Annotated[Principal, Depends(require(Role.viewer))]
Operator = Annotated[Principal, Depends(require(Role.operator))]
Admin = Annotated[Principal, Depends(require(Role.admin))]
