"""Who calls, with which role and organisation, and API tokens: made, stored as digests,
matched.

Tokens are stored only as sha256 digests; ``TASKTRAIL_ADMIN_TOKEN`` is a root admin token that
works before any token exists. A token's name is unique within its organisation; the default
organisation and root tokens share the plain names, and a token of another organisation is
known everywhere else (as the actor of what it does, in command ids) by its qualified name
``<org>/<name>``, so that two organisations never share an actor or an idempotency key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator
from tasktrail_shared.models import ClosedModel
from tasktrail_shared.own_events import DEFAULT_ORG as DEFAULT_ORG
from tasktrail_shared.own_events import ORG_SLUG

ADMIN_NAME = "admin"
ROOT = None
"""The organisation of a root token: none, it sees every organisation."""


class Role(IntEnum):
    """Ordered: a role may do everything the roles below it may. ``operator`` is seed 001's
    ``user``; both names are accepted."""

    viewer = 1
    operator = 2
    admin = 3


ROLE_ALIASES = {"user": Role.operator}
ROLE_NAMES = ("viewer", "user", "operator", "admin")
"""Every name a role may be given by."""


def parse_role(name: str) -> Role | None:
    """The role ``name`` stands for (``user`` is ``operator``); ``None`` if none."""
    if name in ROLE_ALIASES:
        return ROLE_ALIASES[name]
    return Role.__members__.get(name)


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
    role = parse_role(str(stored.get("role")))
    if role is None:
        return None
    return Principal(name=str(stored.get("name") or digest[:12]), role=role, org=token_org(stored))


def token_org(stored: Mapping[str, Any]) -> str | None:
    """A stored token's organisation: ``None`` for a root token; a token stored before
    organisations existed (no ``org``) is the default organisation's."""
    org = stored.get("org", DEFAULT_ORG)
    return org if isinstance(org, str) else ROOT


def qualified_name(org: str | None, name: str) -> str:
    """How a token is known outside its organisation: its name, prefixed by its
    organisation's slug unless it is a root token or the default organisation's."""
    return name if org in (ROOT, DEFAULT_ORG) else f"{org}/{name}"


def short_name(qualified: str) -> str:
    """The name a token was given, without its organisation."""
    return qualified.rpartition("/")[2]


def is_admin_token(token: str, admin_token: str | None) -> bool:
    if not admin_token:
        return False
    return hmac.compare_digest(token_digest(token), token_digest(admin_token))


Slug = Annotated[str, StringConstraints(pattern=ORG_SLUG)]


class TokenRequest(ClosedModel):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]
    role: Literal["viewer", "user", "operator", "admin"]
    org: Slug | None = Field(
        default=None,
        description="The organisation the token belongs to; absent: the caller's; null: a "
        "root token (root tokens only)",
    )

    @field_validator("role")
    @classmethod
    def _canonical_role(cls, value: str) -> str:
        """``user`` is stored, shown and audited as ``operator``."""
        role = parse_role(value)
        assert role is not None  # the Literal admits role names only
        return role.name

    def target_org(self, caller: Principal) -> str | None:
        """The organisation asked for: the caller's own unless ``org`` was given."""
        return self.org if "org" in self.model_fields_set else caller.org
