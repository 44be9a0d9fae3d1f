"""The metrics page over the stats the projector's sweep computes from task documents:
per-name counts, success rate and interpolated run-time percentiles, and the slowest tasks."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.settings import Settings

from tests.integration.api.support import T0, Doc, count_tasks, now, task_doc
from tests.integration.ui.conftest import Browser
from tests.integration.ui.test_ui_pages import assert_no_inline_code

RUNTIMES = {f"6f1c7b1e-0000-4000-8000-00000000aa0{i}": r for i, r in ((1, 0.2), (2, 0.3), (3, 0.4))}
FAILED = "6f1c7b1e-0000-4000-8000-00000000aa04"
OLD = "6f1c7b1e-0000-4000-8000-00000000aa05"


async def seed_recent(db: AsyncDatabase[Doc], app: str) -> None:
    """Three ``demo.add`` that succeeded a minute ago (0.2, 0.3, 0.4 s) and one that failed;
    a ``demo.old`` from long ago, outside every range."""
    ago = (T0 - now()).total_seconds() + 60  # ``age`` counts back from T0
    docs = [
        task_doc(task_id, "SUCCESS", age=ago + i, name="demo.add", runtime=runtime)
        for i, (task_id, runtime) in enumerate(RUNTIMES.items())
    ]
    docs.append(task_doc(FAILED, "FAILURE", age=ago, name="demo.add"))
    docs.append(task_doc(OLD, "SUCCESS", age=0, name="demo.old", runtime=9.0))
    await db.tasks.insert_many([{**d, "app": app} for d in docs])
    await count_tasks(db)  # the projector's sweep: counters and per-minute stats buckets


def cell(html: str, name: str, attribute: str) -> list[str]:
    row = re.search(rf'<tr data-metrics-name="{re.escape(name)}">(.*?)</tr>', html, re.S)
    assert row is not None, name
    return re.findall(rf'{attribute}="([^"]*)"', row.group(1))


async def test_metrics_per_task_name_and_the_slowest_tasks(
    browser: Browser, db: AsyncDatabase[Doc], settings: Settings
) -> None:
    await seed_recent(db, settings.app)
    response = await browser.get("/ui/metrics?range=1h")
    assert response.status_code == 200, response.text[:500]
    html = response.text
    assert_no_inline_code(html)
    assert 'href="/ui/metrics" aria-current="page"' in html
    assert "demo.old" not in html  # outside the hour
    assert cell(html, "demo.add", "data-success-rate") == ["0.7500"]
    # all three run times in the bin [0.1, 0.5), narrowed to what was seen: [0.2, 0.4]
    p50, p95, p99 = (float(p) for p in cell(html, "demo.add", "data-percentile"))
    assert [p50, p95, p99] == pytest.approx([0.3, 0.39, 0.398])
    slow = re.findall(r'data-slow-task="([^"]+)"', html)
    assert slow == sorted(RUNTIMES, key=RUNTIMES.__getitem__, reverse=True)
    assert "name=demo.add&amp;sort=-runtime&amp;timestamp_after=" in html
    week = await browser.get("/ui/metrics?range=7d")
    assert week.status_code == 200 and cell(week.text, "demo.add", "data-success-rate")
    bad = await browser.get("/ui/metrics?range=1y")
    assert bad.status_code == 400


async def test_the_slowest_link_of_a_name_is_a_served_list(
    browser: Browser, db: AsyncDatabase[Doc], settings: Settings
) -> None:
    await seed_recent(db, settings.app)
    since = (now() - timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    listed = await browser.get(
        "/ui/tasks", params={"name": "demo.add", "sort": "-runtime", "timestamp_after": since}
    )
    assert listed.status_code == 200, listed.text[:500]
    rows = re.findall(r'<tr id="task-[^"]+" data-task-id="([^"]+)"', listed.text)
    assert rows == [*sorted(RUNTIMES, key=RUNTIMES.__getitem__, reverse=True), FAILED]
