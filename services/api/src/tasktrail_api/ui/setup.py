"""Wiring the web UI into the app: routes, static files, headers, the HTML error pages, and
the live hub the app's lifespan runs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from tasktrail_shared.changes import ChangeNotice

from tasktrail_api import envelope
from tasktrail_api.domain.errors import DomainError
from tasktrail_api.settings import Settings
from tasktrail_api.ui import actions, alerts, pages
from tasktrail_api.ui.live import LiveHub
from tasktrail_api.ui.render import STATIC, failed_page
from tasktrail_api.ui.security import LoginRequired, UiHeaders, is_ui_path
from tasktrail_api.ui.session import SessionCodec, session_key


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if not is_ui_path(request.url.path):
        return await envelope.domain_error(request, exc)
    if isinstance(exc, LoginRequired):
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": "/ui/login"})
        target = request.url.path if request.method == "GET" else "/ui/"
        return RedirectResponse(f"/ui/login?next={target}", status_code=303)
    status = envelope.status_of(exc)
    return failed_page("error.html", status, status=status, message=exc.message)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if not is_ui_path(request.url.path) or request.url.path.startswith("/ui/static"):
        return await envelope.http_error(request, exc)
    return failed_page("error.html", exc.status_code, status=exc.status_code,
                message=str(exc.detail))  # fmt: skip


def install(app: FastAPI, settings: Settings) -> None:
    app.state.ui_codec = SessionCodec(
        session_key(settings.ui_session_key), max_age=settings.ui_session_hours * 3600
    )
    app.state.ui_hub = LiveHub(interval=settings.ui_push_interval)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_middleware(UiHeaders)
    app.mount("/ui/static", StaticFiles(directory=STATIC), name="ui-static")
    app.include_router(actions.router)
    app.include_router(alerts.router)
    app.include_router(pages.router)


class Feed(Protocol):
    """Where change notices come from (``adapters.changes.ChangeFeed``)."""

    async def start(self, take: Callable[[ChangeNotice], None]) -> None: ...

    async def stop(self) -> None: ...


@contextlib.asynccontextmanager
async def running(app: FastAPI, feed: Feed) -> AsyncIterator[None]:
    """The hub ticks while the app runs, fed by the change notices."""
    hub: LiveHub = app.state.ui_hub
    await feed.start(hub.notice)
    ticking = asyncio.create_task(hub.run())
    try:
        yield
    finally:
        hub.stop()
        await ticking
        await feed.stop()
