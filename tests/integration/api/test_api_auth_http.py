"""Tokens in every accepted form, and roles, through the HTTP stack."""

from __future__ import annotations

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from tests.integration.api.conftest import FakeControl
from tests.integration.api.support import ADMIN_TOKEN, Doc, add_token
from tests.integration.api.test_api_tasks import assert_error, assert_ok

REVOKE = {"ides": ["t-1"]}
SHUTDOWN = {"names": ["celery@w1"]}


@pytest.fixture
async def tokens(db: AsyncDatabase[Doc]) -> None:
    await add_token(db, "view-token", "grafana", "viewer")
    await add_token(db, "op-token", "oncall", "operator")
    await add_token(db, "odd-token", "legacy", "superuser")


@pytest.mark.parametrize(
    ("headers", "params"),
    [
        ({"Authorization": "Bearer view-token"}, {}),
        ({"Authorization": "Token view-token"}, {}),
        ({}, {"access_token": "view-token"}),
        ({"Authorization": f"Bearer {ADMIN_TOKEN}"}, {}),
        ({}, {"access_token": ADMIN_TOKEN}),
    ],
)
async def test_every_token_form_reads(
    api: httpx.AsyncClient, tokens: None, headers: dict[str, str], params: dict[str, str]
) -> None:
    assert_ok(await api.get("/monitor/tasks/", headers=headers, params=params))


@pytest.mark.parametrize(
    ("headers", "params", "words"),
    [
        ({}, {}, "authentication required"),
        ({"Authorization": "Bearer wrong"}, {}, "invalid token"),
        ({"Authorization": "Token wrong"}, {}, "invalid token"),
        ({}, {"access_token": "wrong"}, "invalid token"),
        ({"Authorization": "Basic dXNlcjpwdw=="}, {}, "Bearer <token>"),
        ({"Authorization": "Bearer odd-token"}, {}, "invalid token"),
        # A bad header is refused even when the query parameter is good.
        ({"Authorization": "Basic x"}, {"access_token": "view-token"}, "Bearer <token>"),
    ],
)
async def test_missing_or_bad_tokens_are_401(
    api: httpx.AsyncClient,
    tokens: None,
    headers: dict[str, str],
    params: dict[str, str],
    words: str,
) -> None:
    response = await api.get("/monitor/workers", headers=headers, params=params)
    assert_error(response, 401, words)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    "path", ["/monitor/tasks", "/monitor/tasks/x", "/monitor/tasks/dashboard", "/monitor/workers",
             "/monitor/workers/x"],
)  # fmt: skip
async def test_every_read_needs_a_token(api: httpx.AsyncClient, path: str) -> None:
    assert_error(await api.get(path), 401)


async def test_viewers_cannot_act(api: httpx.AsyncClient, tokens: None) -> None:
    headers = {"Authorization": "Bearer view-token"}
    assert_error(
        await api.post("/monitor/tasks/revoke", json=REVOKE, headers=headers), 403, "operator"
    )
    assert_error(
        await api.post("/monitor/workers/shutdown", json=SHUTDOWN, headers=headers), 403, "admin"
    )


async def test_operators_revoke_but_do_not_shut_down(
    api: httpx.AsyncClient, tokens: None, control: FakeControl
) -> None:
    params = {"access_token": "op-token"}
    assert_ok(await api.post("/monitor/tasks/revoke/", json=REVOKE, params=params))
    assert control.requests[0].actor == "oncall"
    response = await api.post("/monitor/workers/shutdown", json=SHUTDOWN, params=params)
    assert_error(response, 403, "admin")
    assert len(control.requests) == 1


async def test_probes_need_no_token(api: httpx.AsyncClient) -> None:
    assert_ok(await api.get("/healthz"))
    assert_ok(await api.get("/readyz/"))
