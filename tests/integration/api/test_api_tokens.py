"""API tokens: the admin endpoints and the ``tasktrail-api tokens`` CLI, against MongoDB, and
their audit events in the log (projected by the real projector)."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.settings import Settings

from tests.integration.api.support import Doc
from tests.integration.api.test_api_audit import eventually
from tests.integration.api.test_api_tasks import assert_error, assert_ok


@pytest.mark.usefixtures("projector")
async def test_admins_create_list_and_revoke_tokens(
    client: httpx.AsyncClient, api: httpx.AsyncClient, db: AsyncDatabase[Doc]
) -> None:
    response = await client.post("/monitor/tokens", json={"name": "grafana", "role": "viewer"})
    assert response.status_code == 201
    data = response.json()["data"]
    secret = data["secret"]
    assert data["token"]["name"] == "grafana" and data["token"]["created_by"] == "admin"
    stored = await db.tokens.find_one({"name": "grafana"})
    assert stored is not None and secret not in str(stored)  # only the digest is kept

    reader = {"Authorization": f"Token {secret}"}
    assert_ok(await api.get("/monitor/tasks", headers=reader))
    assert_error(await api.get("/monitor/tokens", headers=reader), 403, "admin")
    listed = assert_ok(await client.get("/monitor/tokens"))["tokens"]
    assert [(t["name"], t["role"]) for t in listed] == [("grafana", "viewer")]
    assert_error(
        await client.post("/monitor/tokens", json={"name": "grafana", "role": "admin"}), 409
    )

    assert (await client.delete("/monitor/tokens/grafana")).status_code == 204
    assert_error(await api.get("/monitor/tasks", headers=reader), 401, "invalid token")
    assert_error(await client.delete("/monitor/tokens/grafana"), 404)

    audit = await eventually(client, "/monitor/events", 2, type="tasktrail.token.*")
    assert [(e["type"], e["actor"], e["event"]["name"]) for e in audit["events"]] == [
        ("tasktrail.token.revoked", "admin", "grafana"),  # newest first
        ("tasktrail.token.created", "admin", "grafana"),
    ]
    assert audit["events"][1]["event"]["role"] == "viewer" and secret not in str(audit)


@pytest.mark.parametrize(
    "body", [{"name": "x", "role": "root"}, {"name": "a b", "role": "viewer"}, {"role": "viewer"}]
)
async def test_bad_token_requests_are_400(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    assert_error(await client.post("/monitor/tokens", json=body), 400)


@pytest.mark.usefixtures("nats_stream")  # deletes every event stream: no audit is written
async def test_no_token_without_its_audit_event_but_a_revocation_stands(
    client: httpx.AsyncClient, db: AsyncDatabase[Doc]
) -> None:
    response = await client.post("/monitor/tokens", json={"name": "ghost", "role": "admin"})
    assert_error(response, 503, "event stream")
    assert await db.tokens.find_one({"name": "ghost"}) is None  # created, then taken back
    await db.tokens.insert_one({"_id": "d1", "name": "old", "role": "viewer"})
    assert (await client.delete("/monitor/tokens/old")).status_code == 204
    assert await db.tokens.find_one({"name": "old"}) is None


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TASKTRAIL_MONGO_URL": settings.mongo_url,
           "TASKTRAIL_MONGO_DB": settings.mongo_db, "TASKTRAIL_NATS_URL": settings.nats_url,
           "TASKTRAIL_APP": settings.app}  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "tasktrail_api.main", *args],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.usefixtures("projector")
async def test_the_cli_creates_lists_and_revokes(
    api: httpx.AsyncClient, client: httpx.AsyncClient, settings: Settings
) -> None:
    made = cli(settings, "tokens", "create", "--name", "ci", "--role", "operator")
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert secret.startswith("tt_") and "not shown again" in made.stderr
    headers = {"Authorization": f"Bearer {secret}"}
    assert_ok(await api.get("/monitor/workers", headers=headers))

    listed = cli(settings, "tokens", "list")
    assert listed.stdout.split("\t")[:2] == ["ci", "operator"] and secret not in listed.stdout
    assert cli(settings, "tokens", "create", "--name", "ci", "--role", "viewer").returncode == 1
    assert cli(settings, "tokens", "revoke", "--name", "ci").returncode == 0
    assert cli(settings, "tokens", "revoke", "--name", "ci").returncode == 1
    assert_error(await api.get("/monitor/workers", headers=headers), 401)
    audit = await eventually(client, "/monitor/events", 2, actor="cli")
    assert [e["type"] for e in audit["events"]] == [
        "tasktrail.token.revoked",
        "tasktrail.token.created",
    ]
