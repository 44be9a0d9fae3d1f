"""Who calls, with which role, and API tokens: made, stored as digests, matched.

Tokens are stored only as sha256 digests; ``TASKTRAIL_ADMIN_TOKEN`` is an admin token that
works before any token exists.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints

ADMIN_NAME = "admin"


DEFAULT_ORG = "default"
"""The organisation of a single-team install: it owns cluster ``default`` and every cluster
no other organisation was given, and tokens made before organisations existed belong to it."""


class Role(IntEnum):
    """Ordered: a role may do everything the roles below it may. ``operator`` is seed 001's
    ``user``; both names are accepted."""

    viewer = 1
    operator = 2
    admin = 3


ROLE_ALIASES = {"user": Role.operator}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who calls: a token's name and role, and its organisation (``None``: a root token, which
    sees every organisation)."""

    name: str
    role: Role
    org: str | None = DEFAULT_ORG

    @property
    def is_root(self) -> bool:
        return self.org is None


ADMIN = Principal(name=ADMIN_NAME, role=Role.admin, org=None)
"""``TASKTRAIL_ADMIN_TOKEN``: root."""


def token_digest(token: str) -> str:
    """Tokens are 256 random bits, so a plain sha256 is enough (no password stretching)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return f"tt_{secrets.token_urlsafe(32)}"


def principal_from_token(stored: Mapping[str, Any] | None, digest: str) -> Principal | None:
    """The caller a stored token stands for, if it matches ``digest`` and names a known role."""
    if stored is None or not hmac.compare_digest(str(stored.get("_id", "")), digest):
        return None
    try:
        role = Role[str(stored.get("role"))]
    except KeyError:
        return None
    return Principal(name=str(stored.get("name") or digest[:12]), role=role)


def is_admin_token(token: str, admin_token: str | None) -> bool:
    if not admin_token:
        return False
    return hmac.compare_digest(token_digest(token), token_digest(admin_token))


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]
    role: Literal["viewer", "operator", "admin"]
