"""ASGI middleware: an optional trailing slash, and a bounded request body."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tasktrail_api.envelope import error_response


def too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes"


class StripTrailingSlash:
    """Make the trailing slash optional on every route without redirecting.

    The original API documented ``/monitor/tasks/``; new clients write ``/monitor/tasks``. A
    redirect would turn POSTs into GETs in some clients and cost a round trip, so one trailing
    slash is simply dropped before routing.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope)
                scope["path"] = path[:-1]
                raw_path = scope.get("raw_path")
                if isinstance(raw_path, bytes) and raw_path.endswith(b"/"):
                    scope["raw_path"] = raw_path[:-1]
        await self.app(scope, receive, send)


class LimitBody:
    """Refuse request bodies over ``limit`` bytes with a 413 envelope: at once when
    ``Content-Length`` says so, else as soon as the bytes read pass the limit (chunked
    uploads), before any of it is parsed."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        path = str(scope.get("path", ""))
        if declared is not None:
            if not declared.isdigit():
                refused = error_response(400, "Content-Length is not a number", path=path)
                await refused(scope, receive, send)
                return
            if int(declared) > self.limit:
                await error_response(413, too_large(self.limit), path=path)(scope, receive, send)
                return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, too_large(self.limit))
            return message

        await self.app(scope, limited, send)
