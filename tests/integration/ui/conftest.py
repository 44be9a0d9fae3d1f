"""The web UI in-process over the API's fixtures (real MongoDB-wire and NATS servers), and
logged-in browsers of each role as httpx clients that send what a browser sends."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.app import create_app
from tasktrail_api.settings import Settings

from tests.integration.api.conftest import (  # noqa: F401  (fixtures)
    FakeControl,
    api,
    client,
    control,
    db,
    projector,
    settings,
)
from tests.integration.api.support import ADMIN_TOKEN, Doc, add_token

ORIGIN = "http://api"
TOKENS = {"viewer": "viewer-secret", "operator": "operator-secret", "admin": ADMIN_TOKEN}
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


class Browser:
    """A logged-in browser: the session cookie, and the CSRF token of the last page read."""

    def __init__(self, client: httpx.AsyncClient, role: str = "") -> None:  # noqa: F811
        self.client = client
        self.role = role
        self.csrf = ""

    async def get(self, path: str, **kwargs: object) -> httpx.Response:
        response = await self.client.get(path, **kwargs)  # type: ignore[arg-type]
        found = CSRF.search(response.text)
        if found:
            self.csrf = found.group(1)
        return response

    async def post(
        self, path: str, data: Mapping[str, object] | None = None, *, origin: str | None = ORIGIN
    ) -> httpx.Response:
        headers = {"Origin": origin} if origin else {}
        form = {"csrf": self.csrf, **(data or {})}
        return await self.client.post(path, data=form, headers=headers)  # type: ignore[arg-type]


async def log_in(client: httpx.AsyncClient, token: str) -> httpx.Response:  # noqa: F811
    return await client.post(
        "/ui/login", data={"token": token, "next": "/ui/tasks"}, headers={"Origin": ORIGIN}
    )


@pytest.fixture
async def app_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:  # noqa: F811
    """A cookie-keeping client of an app whose lifespan is running (no login yet)."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=ORIGIN) as c,
    ):
        yield c


@pytest.fixture
async def tokens(db: AsyncDatabase[Doc]) -> dict[str, str]:  # noqa: F811
    await add_token(db, TOKENS["viewer"], "vera", "viewer")
    await add_token(db, TOKENS["operator"], "otto", "operator")
    return TOKENS


@pytest.fixture(params=["viewer", "operator", "admin"])
async def browser(
    request: pytest.FixtureRequest, app_client: httpx.AsyncClient, tokens: dict[str, str]
) -> Browser:
    """A browser logged in as each role in turn (``browser.role``)."""
    response = await log_in(app_client, tokens[request.param])
    assert response.status_code == 303, response.text
    return Browser(app_client, request.param)


async def logged_in(app_client: httpx.AsyncClient, token: str) -> Browser:
    response = await log_in(app_client, token)
    assert response.status_code == 303, response.text
    return Browser(app_client)
