"""Free text and label filters on the tasks page (and ``q`` on the REST list): found within
one time range, the range kept in the URL, what cannot be served explained in the page."""

from __future__ import annotations

import re

import httpx
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.settings import Settings

from tests.integration.api.support import T0, Doc, count_tasks, now, task_doc
from tests.integration.ui.test_ui_pages import (  # noqa: F401  (the fixture)
    CHILD,
    FAILED,
    TASK,
    SignIn,
    sign_in,
)

SINCE = "2022-01-01T00:00:00Z"
LABELLED = "6f1c7b1e-0000-4000-8000-0000000000b1"
RECENT = "6f1c7b1e-0000-4000-8000-0000000000b2"


def listed(html: str) -> list[str]:
    return re.findall(r'<tr id="task-[^"]+" data-task-id="([^"]+)"', html)


async def test_free_text_is_found_in_name_args_kwargs_and_result(sign_in: SignIn) -> None:  # noqa: F811
    browser = await sign_in("viewer")
    by_args = await browser.get("/ui/tasks", params={"q": "XXXX", "timestamp_after": SINCE})
    assert by_args.status_code == 200 and listed(by_args.text) == [FAILED]  # in its args
    assert 'value="XXXX"' in by_args.text and "q=XXXX" in by_args.text  # kept in the URL
    by_result = await browser.get("/ui/tasks", params={"q": "3", "timestamp_after": SINCE})
    assert TASK in listed(by_result.text)  # its result is 3
    by_name = await browser.get("/ui/tasks", params={"q": "DEMO.MU", "timestamp_after": SINCE})
    assert listed(by_name.text) == [CHILD]
    narrowed = await browser.get(
        "/ui/tasks", params={"q": "demo", "status": "FAILURE", "timestamp_after": SINCE}
    )
    assert listed(narrowed.text) == [FAILED]
    part = await browser.get(
        "/ui/tasks?q=demo.add&timestamp_after=" + SINCE, headers={"HX-Target": "task-table"}
    )
    assert "<html" not in part.text and listed(part.text) == [TASK]


async def test_without_a_range_the_last_hour_is_searched_and_the_page_says_so(
    sign_in: SignIn,  # noqa: F811
    db: AsyncDatabase[Doc],
    settings: Settings,
) -> None:
    ago = (T0 - now()).total_seconds() + 60
    await db.tasks.insert_one(task_doc(RECENT, age=ago, name="demo.recent", app=settings.app))
    await count_tasks(db)
    browser = await sign_in("viewer")
    page = await browser.get("/ui/tasks", params={"q": "demo"})
    assert page.status_code == 200
    assert listed(page.text) == [RECENT]  # the 2022 tasks are outside the last hour
    assert "Searching the tasks of the last hour" in page.text
    assert re.search(r'name="timestamp_after" value="20\d\d-', page.text)  # the range, shown
    export = await browser.get("/ui/tasks/export", params={"q": "demo"})
    assert export.status_code == 200 and RECENT in export.text and TASK not in export.text


async def test_a_list_no_shape_serves_keeps_the_form_and_says_why(sign_in: SignIn) -> None:  # noqa: F811
    browser = await sign_in("viewer")
    refused = await browser.get("/ui/tasks", params={"q": "x", "name": "a", "worker": "b"})
    assert refused.status_code == 400
    assert 'id="filters"' in refused.text and "one filter besides status" in refused.text
    assert 'role="alert"' in refused.text


async def test_label_filters_are_in_the_form_and_the_url(
    sign_in: SignIn,  # noqa: F811
    db: AsyncDatabase[Doc],
    settings: Settings,
) -> None:
    await db.tasks.insert_one(
        task_doc(LABELLED, age=3, name="scan.one", labels={"cidr_id": "c-7"}, app=settings.app)
    )
    await count_tasks(db)
    browser = await sign_in("viewer")
    page = (await browser.get("/ui/tasks")).text
    for label in ("asn_id", "asn_number", "cidr_id", "cidr_ip_network"):
        assert f'name="label.{label}" value=""' in page
    assert '<details class="labels">' in page  # folded while no label filters
    chosen = await browser.get("/ui/tasks", params={"label.cidr_id": "c-7"})
    assert chosen.status_code == 200 and listed(chosen.text) == [LABELLED]
    assert 'name="label.cidr_id" value="c-7"' in chosen.text and "open" in chosen.text
    assert "label.cidr_id=c-7" in chosen.text  # the live stream and export follow it


async def test_rest_lists_take_free_text_within_a_range(
    client: httpx.AsyncClient, db: AsyncDatabase[Doc]
) -> None:
    await db.tasks.insert_many(
        [task_doc(TASK, name="demo.add", kwargs="{'who': 'Zed'}"), task_doc(CHILD, age=1)]
    )
    await count_tasks(db)
    found = await client.get("/monitor/tasks", params={"q": "zed", "timestamp_after": SINCE})
    body = found.json()
    assert found.status_code == 200, body
    assert [t["id"] for t in body["data"]["celery_tasks"]] == [TASK]
    assert body["data"]["count"] == 1 and body["data"]["count_is_exact"] is True
    unranged = await client.get("/monitor/tasks", params={"q": "zed"})
    assert unranged.status_code == 400 and "q (free text) needs a time range" in unranged.text
    too_long = await client.get("/monitor/tasks", params={"q": "z" * 256, "timestamp_after": SINCE})
    assert too_long.status_code == 400 and too_long.json()["err_msg"].startswith("q")
