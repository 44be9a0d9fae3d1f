"""Every page and fragment of the web UI for each role, the login and session, and the
safety checks (CSP, Origin, CSRF, role) on the real app with MongoDB(-wire) and NATS."""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.settings import Settings
from tasktrail_api.ui.security import CSP

from tests.integration.api.conftest import FakeControl
from tests.integration.api.support import Doc, count_tasks, task_doc, worker_doc
from tests.integration.ui.conftest import ORIGIN, TOKENS, Browser, log_in, logged_in

TASK = "6f1c7b1e-0000-4000-8000-000000000001"
CHILD = "6f1c7b1e-0000-4000-8000-000000000002"
FAILED = "6f1c7b1e-0000-4000-8000-000000000003"
ROLE_ACTIONS = {
    "viewer": set(),
    "operator": {"revoke", "terminate", "retry"},
    "admin": {"revoke", "terminate", "retry"},
}


async def seed(db: AsyncDatabase[Doc], app: str) -> None:
    """Tasks and workers of the cluster the control stand-in answers for."""
    await db.tasks.insert_many(
        [
            task_doc(TASK, "SUCCESS", name="demo.add", args="[1, 2]", result="3", children=[CHILD]),
            task_doc(CHILD, "STARTED", age=1, name="demo.mul", root_id=TASK, parent_id=TASK),
            task_doc(
                FAILED, "FAILURE", age=2, name="demo.fail", exception="ValueError('boom')",
                traceback="Traceback (most recent call last):\nValueError: boom",
                args="['" + "x" * 1030 + "...",
            ),
        ]
    )  # fmt: skip
    await db.workers.insert_many(
        [worker_doc("celery@w1", online=True, active=1), worker_doc("celery@w2", online=False)]
    )
    await db.tasks.update_many({}, {"$set": {"app": app}})
    await db.workers.update_many({}, {"$set": {"app": app}})
    await count_tasks(db)  # as the projector would: registers the cluster, counts the tasks
    measured = datetime.now(UTC) - timedelta(seconds=3)
    await db.queue_depths.insert_one(
        {"_id": f"{app}/backlog", "app": app, "queue": "backlog", "depth": 42,
         "measured_at": measured,
         "trend": [{"at": measured.replace(second=0, microsecond=0), "measured_at": measured,
                    "depth": 42}]}
    )  # fmt: skip


SignIn = Callable[[str], Awaitable[Browser]]


@pytest.fixture
async def sign_in(
    app_client: httpx.AsyncClient,
    tokens: dict[str, str],
    db: AsyncDatabase[Doc],
    settings: Settings,
) -> SignIn:
    """With the cluster seeded (``seed``): a browser logged in with the named role's token."""
    await seed(db, settings.app)

    async def as_role(role: str) -> Browser:
        return await logged_in(app_client, tokens[role])

    return as_role


def actions_in(html: str) -> set[str]:
    return set(re.findall(r'data-action="([a-z_]+)"', html))


def assert_no_inline_code(html: str) -> None:
    """What the CSP would block: inline scripts, style attributes or elements, handlers."""
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html), "inline script"
    assert not re.search(r"\sstyle=", html), "style attribute"
    assert "<style" not in html, "style element"
    assert not re.search(r"\son[a-z]+=", html), "event handler attribute"
    assert "javascript:" not in html


# --- login and session ----------------------------------------------------------------------


async def test_login_form_and_the_session_cookie(
    app_client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    form = await app_client.get("/ui/login")
    assert form.status_code == 200 and 'name="token"' in form.text
    assert form.headers["content-security-policy"] == CSP

    refused = await log_in(app_client, "not-a-token")
    assert refused.status_code == 401 and "not valid" in refused.text
    assert "tasktrail_session" not in refused.headers.get("set-cookie", "")

    response = await log_in(app_client, tokens["operator"])
    assert response.status_code == 303 and response.headers["location"] == "/ui/tasks"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert tokens["operator"] not in cookie  # the session names the token by its digest
    assert (await app_client.get("/ui/tasks")).status_code == 200


async def test_pages_without_a_session_go_to_the_login(app_client: httpx.AsyncClient) -> None:
    response = await app_client.get("/ui/tasks")
    assert response.status_code == 303 and response.headers["location"].startswith("/ui/login")
    assert (await app_client.get("/")).headers["location"] == "/ui/"
    app_client.cookies.set("tasktrail_session", "eyJkIjoiYSJ9.forged")
    assert (await app_client.get("/ui/tasks")).status_code == 303
    fragment = await app_client.get("/ui/tasks", headers={"HX-Request": "true"})
    assert fragment.status_code == 401 and fragment.headers["HX-Redirect"] == "/ui/login"


async def test_login_from_another_site_is_refused(
    app_client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    response = await app_client.post(
        "/ui/login", data={"token": tokens["admin"]}, headers={"Origin": "http://evil.example"}
    )
    assert response.status_code == 403


async def test_a_revoked_token_ends_its_sessions(
    app_client: httpx.AsyncClient, tokens: dict[str, str], db: AsyncDatabase[Doc]
) -> None:
    await logged_in(app_client, tokens["viewer"])
    assert (await app_client.get("/ui/tasks")).status_code == 200
    await db.tokens.delete_one({"name": "vera"})
    assert (await app_client.get("/ui/tasks")).status_code == 303


async def test_logging_out_needs_the_csrf_token_and_ends_the_session(
    app_client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    browser = await logged_in(app_client, tokens["viewer"])
    await browser.get("/ui/tasks")
    assert (await browser.post("/ui/logout", {"csrf": "wrong"})).status_code == 403
    out = await browser.post("/ui/logout")
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert (await app_client.get("/ui/tasks")).status_code == 303


# --- pages and fragments, per role ------------------------------------------------------------


async def test_every_page_renders_for_every_role(
    browser: Browser, db: AsyncDatabase[Doc], settings: Settings
) -> None:
    await seed(db, settings.app)
    pages = {
        "/ui": ["Failure inbox", "ValueError", 'data-count="task_failed"'],
        "/ui/tasks": [f'data-task-id="{TASK}"', 'data-status="FAILURE"', "3</span> tasks"],
        f"/ui/tasks/{TASK}": ["demo.add", "[1, 2]", f'data-task-id="{CHILD}"', "run time"],
        f"/ui/tasks/{FAILED}": ["cut by Celery", "ValueError: boom"],
        "/ui/workers": ['data-worker="celery@w1" data-online="true"',
                        'data-worker="celery@w2" data-online="false"'],
        "/ui/workers/celery@w1": ['data-worker="celery@w1"'],
        "/ui/audit": ["Audit log"],
        "/ui/queues": ["Queues", 'data-queue="backlog"', 'data-depth="42"', "data-trend=",
                       "s ago)"],
        "/ui/schedulers": ["Schedulers", "None yet"],
    }  # fmt: skip
    for path, expected in pages.items():
        response = await browser.get(path)
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["content-security-policy"] == CSP
        assert_no_inline_code(response.text)
        for text in expected:
            assert text in response.text, (path, text)
    task_page = (await browser.get(f"/ui/tasks/{TASK}")).text
    assert actions_in(task_page) == ROLE_ACTIONS[browser.role]
    worker_page = (await browser.get("/ui/workers/celery@w1")).text
    assert ("shutdown" in actions_in(worker_page)) is (browser.role == "admin")
    assert ("pool_grow" in actions_in(worker_page)) is (browser.role != "viewer")
    tokens_page = await browser.get("/ui/tokens")
    assert tokens_page.status_code == (200 if browser.role == "admin" else 404)
    queues_page = (await browser.get("/ui/queues")).text
    assert ("purge" in actions_in(queues_page)) is (browser.role == "admin")


async def test_fragments_are_the_parts_of_their_pages(sign_in: SignIn) -> None:
    browser = await sign_in("viewer")
    table = await browser.get("/ui/tasks?status=FAILURE", headers={"HX-Target": "task-table"})
    assert "<html" not in table.text and f'data-task-id="{FAILED}"' in table.text
    assert f'data-task-id="{TASK}"' not in table.text
    counts = await browser.get("/ui", headers={"HX-Target": "overview-live"})
    assert counts.text.startswith('<div id="overview-live"')
    for part, marker in (("summary", 'id="task-summary"'), ("history", 'id="task-history"'),
                         ("tree", 'id="task-tree"')):  # fmt: skip
        response = await browser.get(f"/ui/tasks/{TASK}?part={part}")
        assert (
            response.status_code == 200 and marker in response.text and "<html" not in response.text
        )


async def test_filters_are_kept_in_the_url_and_bad_ones_are_explained(sign_in: SignIn) -> None:
    browser = await sign_in("viewer")
    # a sort by name is served within a time range (see docs/api.md, List shapes)
    since = "timestamp_after=2022-01-01T00:00:00Z"
    page = (await browser.get(f"/ui/tasks?status=SUCCESS&status=STARTED&sort=name&{since}")).text
    rows = re.findall(r'<tr id="task-[^"]+" data-task-id="([^"]+)"', page)
    assert rows == [TASK, CHILD]  # demo.add, demo.mul
    unserved = await browser.get("/ui/tasks?sort=name")
    assert unserved.status_code == 400 and "needs a time range" in unserved.text
    assert 'value="SUCCESS" checked' in page and 'value="STARTED" checked' in page
    assert "status=SUCCESS%2CSTARTED" in page  # the live stream and export follow the filters
    bad = await browser.get("/ui/tasks?status=nope")
    assert bad.status_code == 400 and "status" in bad.text
    missing = await browser.get("/ui/tasks/no-such-task")
    assert missing.status_code == 404
    export = await browser.get("/ui/tasks/export?status=FAILURE")
    assert [json.loads(line)["id"] for line in export.text.splitlines()] == [FAILED]


# --- actions: the same use cases as REST, Origin, CSRF and roles ------------------------------


async def test_an_operator_revokes_through_control_with_their_name(
    sign_in: SignIn, control: FakeControl
) -> None:
    browser = await sign_in("operator")
    await browser.get(f"/ui/tasks/{CHILD}")
    response = await browser.post(f"/ui/tasks/{CHILD}/terminate")
    assert response.status_code == 200, response.text
    assert "celery@w1" in response.text
    [sent] = control.requests
    assert (sent.command, sent.actor, sent.args["ids"]) == ("revoke", "otto", [CHILD])
    assert sent.args["terminate"] is True


@pytest.mark.parametrize(
    ("csrf", "origin", "why"),
    [
        ("wrong", ORIGIN, "CSRF"),
        ("", ORIGIN, "CSRF"),
        (None, "http://evil.example", "cross-origin"),
        (None, None, "cross-origin"),
    ],
)
async def test_forged_requests_are_refused(
    sign_in: SignIn, control: FakeControl, csrf: str | None, origin: str | None, why: str
) -> None:
    browser = await sign_in("admin")
    await browser.get(f"/ui/tasks/{TASK}")
    data = {} if csrf is None else {"csrf": csrf}
    response = await browser.post(f"/ui/tasks/{TASK}/revoke", data, origin=origin)
    assert response.status_code == 403 and why in response.text
    assert control.requests == []


async def test_a_viewer_cannot_act_even_with_a_valid_form(
    sign_in: SignIn, control: FakeControl
) -> None:
    browser = await sign_in("viewer")
    await browser.get(f"/ui/tasks/{TASK}")
    assert browser.csrf
    for path, data in (
        (f"/ui/tasks/{TASK}/revoke", {}),
        ("/ui/tasks", {"action": "revoke", "ids": [TASK]}),
        ("/ui/workers/celery@w1/pool_grow", {"n": "1"}),
        ("/ui/queues/purge", {"queue": "celery", "confirm": "celery"}),
        ("/ui/tokens", {"name": "x", "role": "admin"}),
    ):
        response = await browser.post(path, data)
        assert response.status_code == 403, (path, response.text)
    assert control.requests == []


async def test_destructive_actions_name_what_they_touch_and_want_it_typed(
    sign_in: SignIn, control: FakeControl
) -> None:
    browser = await sign_in("admin")
    await browser.get("/ui/tasks")
    bulk = {"action": "revoke", "ids": [TASK, CHILD]}
    ask = await browser.post("/ui/tasks", bulk)
    assert ask.status_code == 200 and "Type <strong>2</strong>" in ask.text
    assert TASK in ask.text and CHILD in ask.text and control.requests == []
    done = await browser.post("/ui/tasks", {**bulk, "confirm": "2"})
    assert done.status_code == 200 and [r.args["ids"] for r in control.requests] == [[TASK, CHILD]]

    ask = await browser.post("/ui/workers/celery@w1/shutdown")
    assert "Type <strong>celery@w1</strong>" in ask.text and len(control.requests) == 1
    await browser.post("/ui/workers/celery@w1/shutdown", {"confirm": "celery@w1"})
    assert control.requests[-1].command == "shutdown"
    assert control.requests[-1].args["names"] == ["celery@w1"]

    ask = await browser.post("/ui/queues/purge", {"queue": "celery"})
    assert "Type <strong>celery</strong>" in ask.text and len(control.requests) == 2
    await browser.post("/ui/queues/purge", {"queue": "celery", "confirm": "celery"})
    assert (control.requests[-1].command, control.requests[-1].args) == (
        "purge", {"queue": "celery"},
    )  # fmt: skip


async def test_worker_commands_take_their_fields_and_the_contract_checks_them(
    sign_in: SignIn, control: FakeControl
) -> None:
    browser = await sign_in("operator")
    await browser.get("/ui/workers/celery@w1")
    ok = await browser.post("/ui/workers/celery@w1/autoscale", {"max": "8", "min": "2"})
    assert ok.status_code == 200
    assert control.requests[-1].args == {"max": 8, "min": 2, "names": ["celery@w1"]}
    bad = await browser.post("/ui/workers/celery@w1/autoscale", {"max": "2", "min": "8"})
    assert bad.status_code == 400 and "min" in bad.text and len(control.requests) == 1
    refused = await browser.post("/ui/workers/celery@w1/shutdown", {"confirm": "celery@w1"})
    assert refused.status_code == 403  # shutdown needs admin, as on the REST route


@pytest.mark.usefixtures("projector")
async def test_admins_make_and_revoke_tokens(
    app_client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    browser = await logged_in(app_client, tokens["admin"])
    await browser.get("/ui/tokens")
    made = await browser.post("/ui/tokens", {"name": "grafana", "role": "viewer"})
    assert made.status_code == 200 and "not shown again" in made.text
    secret = re.search(r'<pre class="code">(tt_[^<]+)</pre>', made.text)
    assert secret is not None
    other = httpx.AsyncClient(transport=app_client._transport, base_url=ORIGIN)
    async with other:
        assert (await log_in(other, secret.group(1))).status_code == 303
    gone = await browser.post("/ui/tokens/grafana/revoke")
    assert gone.status_code == 303
    assert 'data-token="grafana"' not in (await browser.get("/ui/tokens")).text


async def test_the_login_keeps_only_local_redirects(app_client: httpx.AsyncClient) -> None:
    page = await app_client.get("/ui/login?next=//evil.example/x")
    assert 'name="next" value="/ui/"' in page.text
    response = await app_client.post(
        "/ui/login", data={"token": TOKENS["admin"], "next": "https://evil.example"},
        headers={"Origin": ORIGIN},
    )  # fmt: skip
    assert response.headers["location"] == "/ui/"
