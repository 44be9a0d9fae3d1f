"""Who is looking at a page, and the checks every web request passes.

Pages need a session (else the login page); state-changing requests also need an ``Origin``
(or, failing that, ``Referer``) of this very site and the session's CSRF token, so a page
elsewhere cannot make a logged-in browser act. Every UI response carries a
Content-Security-Policy that allows scripts, styles and connections from this origin only:
the pages hold no inline script or style.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from tasktrail_api.deps import UseCasesDep
from tasktrail_api.domain.errors import DomainError, Forbidden, Unauthorized
from tasktrail_api.domain.principals import Principal, Role
from tasktrail_api.domain.scope import Scope
from tasktrail_api.ui.session import COOKIE, CSRF_FIELD, CSRF_HEADER, Session, SessionCodec

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
]
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_ui_path(path: str) -> bool:
    return path == "/" or path == "/ui" or path.startswith("/ui/")


class UiHeaders:
    """Adds the CSP and its companions to every response of a UI path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_ui_path(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in HEADERS}
                kept = [(n, v) for n, v in message.get("headers", []) if n not in names]
                message = {**message, "headers": [*kept, *HEADERS]}
            await send(message)

        await self.app(scope, receive, with_headers)


class LoginRequired(DomainError):
    """No valid session: the browser goes to the login page."""


@dataclass(frozen=True, slots=True)
class Caller:
    """A logged-in user: who they are, their session and its CSRF token."""

    principal: Principal
    session: Session
    csrf: str
    scope: Scope
    """What the user may see (their organisation's clusters; every one for a root token)."""

    def can(self, role: Role) -> bool:
        return self.principal.role >= role


def codec(request: Request) -> SessionCodec:
    codec: SessionCodec = request.app.state.ui_codec
    return codec


async def caller(request: Request, use_cases: UseCasesDep) -> Caller:
    sessions = codec(request)
    session = sessions.open(request.cookies.get(COOKIE))
    if session is None:
        raise LoginRequired("log in first")
    try:
        principal = await use_cases.tokens.identify_digest(session.digest)
    except Unauthorized as exc:  # the token was revoked since
        raise LoginRequired("the session's token is no longer valid") from exc
    scope = await use_cases.orgs.scope(principal)
    return Caller(principal, session, sessions.csrf_token(session), scope)


def own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def same_origin(request: Request) -> bool:
    """``Origin`` names this site; without one, ``Referer`` points into it."""
    origin = request.headers.get("origin")
    if origin is not None:
        return origin == own_origin(request)
    referer = request.headers.get("referer")
    if referer is None:
        return False
    parts = urlsplit(referer)
    return f"{parts.scheme}://{parts.netloc}" == own_origin(request)


async def submitted_csrf(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    form = await request.form()
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else None


async def acting(request: Request, who: Annotated[Caller, Depends(caller)]) -> Caller:
    """The caller of a state-changing request, after the Origin and CSRF checks."""
    if not same_origin(request):
        raise Forbidden("cross-origin request refused")
    if not codec(request).csrf_ok(who.session, await submitted_csrf(request)):
        raise Forbidden("missing or wrong CSRF token; reload the page")
    return who


def allowed(who: Caller, role: Role) -> Caller:
    if not who.can(role):
        raise Forbidden(f"this needs the {role.name} role")
    return who


Looking = Annotated[Caller, Depends(caller)]
Acting = Annotated[Caller, Depends(acting)]
