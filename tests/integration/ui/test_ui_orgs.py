"""The web UI inside an organisation: another organisation's tasks, workers and actions
answer as if they did not exist (404), as on the REST routes."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.api.test_api_orgs import (  # noqa: F401  (fixtures)
    A_TASKS,
    A_WORKER,
    B_TASK,
    B_WORKER,
    TwoOrgs,
    controls,
    orgs,
)
from tests.integration.ui.conftest import logged_in

pytestmark = pytest.mark.usefixtures("projector")


async def test_another_organisation_s_objects_are_not_found(
    app_client: httpx.AsyncClient,
    orgs: TwoOrgs,  # noqa: F811
) -> None:
    secret = orgs.a_admin["Authorization"].removeprefix("Bearer ")
    browser = await logged_in(app_client, secret)
    listed = (await browser.get("/ui/tasks")).text
    assert all(f'data-task-id="{t}"' in listed for t in A_TASKS)
    assert B_TASK not in listed and "home-task-1" not in listed
    assert (await browser.get(f"/ui/tasks/{A_TASKS[0]}")).status_code == 200
    assert (await browser.get(f"/ui/tasks/{B_TASK}")).status_code == 404
    workers = (await browser.get("/ui/workers")).text
    assert f'data-worker="{A_WORKER}"' in workers and B_WORKER not in workers
    assert (await browser.get(f"/ui/workers/{B_WORKER}")).status_code == 404
    refused = await browser.post(f"/ui/tasks/{B_TASK}/revoke")
    assert refused.status_code == 404
    assert (await browser.post(f"/ui/workers/{B_WORKER}/pool_grow", {"n": "1"})).status_code == 404
