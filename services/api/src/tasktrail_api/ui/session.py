"""The web session: a signed cookie that names a token by its digest, never the token.

A session is ``<payload>.<signature>``: the payload is base64url JSON (token digest, a random
session id, expiry), the signature an HMAC-SHA256 over it with the UI's key. Signing (not
encrypting) is enough because the payload holds no secret: the digest cannot be turned back
into the token, and authentication looks the digest up on every request, so revoking the
token ends every session it opened. The CSRF token is an HMAC of the session id: it changes
with every login and needs no storage.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "tasktrail_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True, slots=True)
class Session:
    digest: str
    """The sha256 digest of the token the user pasted."""
    sid: str
    expires: int
    """Epoch seconds."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    """Seals and opens session cookies, and derives their CSRF tokens, with one key."""

    def __init__(
        self, key: bytes, *, max_age: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = key
        self.max_age = max_age
        self._clock = clock

    def new(self, digest: str) -> Session:
        expires = int(self._clock() + self.max_age)
        return Session(digest=digest, sid=secrets.token_urlsafe(16), expires=expires)

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def seal(self, session: Session) -> str:
        raw = {"d": session.digest, "s": session.sid, "e": session.expires}
        payload = _b64(json.dumps(raw, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def open(self, value: str | None) -> Session | None:
        """The session a cookie holds; ``None`` if absent, forged, malformed or expired."""
        if not value or value.count(".") != 1:
            return None
        payload, signature = value.split(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            raw = json.loads(_unb64(payload))
            session = Session(digest=str(raw["d"]), sid=str(raw["s"]), expires=int(raw["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > self._clock() else None

    def csrf_token(self, session: Session) -> str:
        return self._sign(f"csrf:{session.sid}")

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(session))


def session_key(configured: str | None) -> bytes:
    """The configured key (shared by every API replica), else a random one for this process:
    sessions then end when it restarts."""
    return configured.encode() if configured else secrets.token_bytes(32)
