"""``GET /monitor/stats`` and the overview chart's data over the stats read model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from pymongo.asynchronous.database import AsyncDatabase

from tests.integration.api.support import Doc
from tests.integration.ui.conftest import TOKENS, logged_in


async def seed_buckets(db: AsyncDatabase[Doc]) -> datetime:
    minute = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    runtime = {"count": 3, "sum": 0.6, "min": 0.1, "max": 0.3, "hist": [0, 3, 0],
               "edges": [0.01, 0.5]}  # fmt: skip
    await db.stats.insert_many(
        [
            {"_id": f"a/{minute:%H:%M}", "app": "a", "minute": minute,
             "counts": {"SUCCESS": 3, "FAILURE": 1}, "runtime": runtime,
             "names": [{"name": "demo.add", "counts": {"SUCCESS": 3}, "runtime": runtime}],
             "workers": [{"worker": "w1", "counts": {"SUCCESS": 3, "FAILURE": 1}}]},
            {"_id": "old", "app": "a", "minute": minute - timedelta(days=2),
             "counts": {"SUCCESS": 100}, "runtime": None, "names": [], "workers": []},
        ]
    )  # fmt: skip
    return minute


async def test_stats_by_step_name_and_worker(
    client: httpx.AsyncClient, db: AsyncDatabase[Doc]
) -> None:
    minute = await seed_buckets(db)
    body = (await client.get("/monitor/stats")).json()
    assert body["err"] is False and body["data"]["step"] == 60
    steps = body["data"]["steps"]
    assert len(steps) in (60, 61)  # an hour by the minute, aligned
    [busy] = [s for s in steps if s["counts"]]
    assert busy["time"].startswith(f"{minute:%Y-%m-%dT%H:%M}")
    assert busy["counts"] == {"SUCCESS": 3, "FAILURE": 1} and busy["runtime"]["hist"] == [0, 3, 0]
    named = await client.get("/monitor/stats", params={"name": "demo.add", "step": 3600})
    assert [s["counts"] for s in named.json()["data"]["steps"] if s["counts"]] == [{"SUCCESS": 3}]
    bad = await client.get("/monitor/stats", params={"step": 61})
    assert bad.status_code == 400 and "step" in bad.json()["err_msg"]
    too_many = await client.get(
        "/monitor/stats", params={"after": "2020-01-01T00:00:00Z", "step": 60}
    )
    assert too_many.status_code == 400 and "steps" in too_many.json()["err_msg"]
    assert (await client.get("/monitor/stats", headers={"Authorization": ""})).status_code == 401


async def test_the_overview_chart_reads_the_same_stats(
    app_client: httpx.AsyncClient, tokens: dict[str, str], db: AsyncDatabase[Doc]
) -> None:
    await seed_buckets(db)
    browser = await logged_in(app_client, TOKENS["viewer"])
    hour = (await browser.get("/ui/stats?range=1h")).json()
    assert hour["total"] == 4 and sum(hour["succeeded"]) == 3 and sum(hour["failed"]) == 1
    assert len(hour["times"]) == len(hour["succeeded"]) and hour["step_label"] == "minute"
    week = (await browser.get("/ui/stats?range=7d")).json()
    assert week["total"] == 104 and week["step_label"] == "hour"
    assert (await browser.get("/ui/stats?range=1y")).status_code == 400
