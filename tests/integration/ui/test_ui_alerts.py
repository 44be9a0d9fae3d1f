"""The web UI's Alerts page for each role on the real app (MongoDB-wire and NATS servers):
incidents with their deliveries, rules, silences and channels as the alerts use cases show
them to the caller's organisation; admins create, silence, delete (after typing the name)
and send a test through a real notifier to a local HTTP receiver; other roles get no button
and a 403; every POST checks Origin and CSRF."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import nats
import pytest
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.settings import Settings
from tasktrail_shared.alerts import ALERT_DELIVERIES, ALERT_INCIDENTS, MASK
from tasktrail_shared.nats import ensure_stream
from tasktrail_shared.own_events import DEFAULT_ORG

from tests.integration.api.support import ADMIN_TOKEN, Doc
from tests.integration.notifier.receivers import receiving
from tests.integration.notifier.test_notifier_celery import notifier, verify
from tests.integration.ui.conftest import TOKENS, Browser, logged_in
from tests.integration.ui.test_ui_pages import assert_no_inline_code

SECRET = "s3cret"  # what verify() checks the webhook's signature with
ADMIN_BUTTONS = {
    "alert-test",
    "alert-delete-channel",
    "alert-delete-rule",
    "silence",
    "alert-delete-silence",
    "alert-create-rule",
    "alert-create-channel",
}
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
async def settings(fresh_nats_url: str, mongo_url: str, db: AsyncDatabase[Doc]) -> Settings:
    """The app on a NATS server of this test's own ("send test" asks whichever notifier
    answers on the server, and only this test's may), with the event stream its audit
    events go to."""
    made = Settings(
        app="alertsui",
        mongo_url=mongo_url,
        nats_url=fresh_nats_url,
        mongo_db=db.name,
        admin_token=ADMIN_TOKEN,
        api_alert_test_timeout=20,
    )
    nc = await nats.connect(fresh_nats_url)
    try:
        await ensure_stream(nc.jetstream(), made.stream_settings())
    finally:
        await nc.close()
    return made


def actions_in(html: str) -> set[str]:
    return set(re.findall(r'data-action="([a-z-]+)"', html))


async def rest(client: httpx.AsyncClient, path: str, body: dict[str, Any], key: str) -> Doc:
    """An object made through the REST route (as the admin), as it answers it."""
    response = await client.post(f"/monitor/alerts/{path}", json=body, headers=AUTH)
    assert response.status_code == 201, response.text
    made: Doc = response.json()["data"][key]
    return made


def incident(ident: str, rule: Doc, key: str, started: datetime, **fields: Any) -> Doc:
    """An incident as the notifier writes it."""
    return {
        "_id": ident,
        "org": rule["org"],
        "app": "alertsui",
        "rule": {"id": rule["id"], "name": rule["name"], "kind": rule["kind"]},
        "key": key,
        "state": "firing",
        "started_at": started,
        "opened_at": started,
        "resolved_at": None,
        "channels": rule["channels"],
        **fields,
    }


def delivery(ident: str, of: str, channel: str, state: str, code: int | None, tries: int) -> Doc:
    return {
        "_id": ident,
        "incident": of,
        "org": DEFAULT_ORG,
        "channel": channel,
        "status": "firing",
        "reminder": False,
        "state": state,
        "attempts": tries,
        "code": code,
        "error": None if state == "delivered" else "500 from the receiver",
        "created": NOW,
    }


@pytest.fixture
async def alerting(
    app_client: httpx.AsyncClient, tokens: dict[str, str], db: AsyncDatabase[Doc]
) -> Doc:
    """A webhook channel and a rule sending to it (made through the REST routes), two of its
    incidents (one firing, delivered after 2 attempts; one resolved whose delivery failed),
    and another organisation's incident that only the root token sees."""
    hook = await rest(
        app_client,
        "channels",
        {
            "name": "ops-hook",
            "type": "webhook",
            "config": {"url": "http://127.0.0.1:9/h", "secret": SECRET},
        },
        "channel",
    )
    rule = await rest(
        app_client,
        "rules",
        {
            "name": "fail watch",
            "kind": "task_failed",
            "filter": {"name": "billing.*"},
            "channels": [hook["id"]],
        },
        "rule",
    )
    older = NOW - timedelta(hours=1)
    await db[ALERT_INCIDENTS].insert_many(
        [
            incident(
                "inc-resolved",
                rule,
                "billing.refund",
                older,
                state="resolved",
                resolved_at=older + timedelta(minutes=5),
            ),
            incident("inc-firing", rule, "billing.charge", older - timedelta(hours=1)),
            incident("inc-elsewhere", {**rule, "org": "acme", "id": "acme-rule"}, "acme.task", NOW),
        ]
    )
    await db[ALERT_DELIVERIES].insert_many(
        [
            delivery("d1", "inc-firing", hook["id"], "delivered", 200, 2),
            delivery("d2", "inc-resolved", hook["id"], "failed", 500, 5),
        ]
    )
    return {"channel": hook, "rule": rule}


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def rows(html: str, attribute: str) -> list[str]:
    return re.findall(rf'<tr {attribute}="([^"]+)"', html)


async def test_every_role_reads_incidents_rules_and_channels(
    browser: Browser, alerting: Doc
) -> None:
    page = await browser.get("/ui/alerts")
    assert page.status_code == 200, page.text
    html = page.text
    assert_no_inline_code(html)
    assert 'href="/ui/alerts" aria-current="page"' in html
    shown = rows(html, "data-incident")
    if browser.role == "admin":  # a root token: every organisation
        assert shown == ["inc-elsewhere", "inc-firing", "inc-resolved"]
    else:
        assert shown == ["inc-firing", "inc-resolved"]  # firing first, then resolved
    firing = html.split('data-incident="inc-firing"')[1].split("</tr>")[0]
    assert 'data-state="firing"' in html and "billing.charge" in firing
    assert re.search(
        r'data-outcome="delivered">ops-hook: firing .*data-code="200".*2 attempts', firing
    )
    resolved = html.split('data-incident="inc-resolved"')[1].split("</tr>")[0]
    assert 'data-outcome="failed"' in resolved and "500 from the receiver" in resolved
    assert f'<time datetime="{(NOW - timedelta(hours=1)).isoformat()[:19]}' in resolved
    rule = alerting["rule"]
    assert rows(html, "data-rule") == [rule["id"]]
    assert "{&#34;name&#34;: &#34;billing.*&#34;}" in html  # the rule's filter, as JSON
    assert rows(html, "data-channel") == [alerting["channel"]["id"]]
    assert SECRET not in html and MASK in html  # the channel's secret is never shown
    expected = ADMIN_BUTTONS - {"alert-delete-silence"} if browser.role == "admin" else set()
    assert actions_in(html) == expected
    rest_view = await browser.client.get("/monitor/alerts/incidents/inc-firing", headers=AUTH)
    deliveries = rest_view.json()["data"]["incident"]["deliveries"]  # the same use case
    assert [(d["id"], d["state"], d["code"], d["attempts"]) for d in deliveries] == [
        ("d1", "delivered", 200, 2)
    ]


async def test_incidents_filter_by_state_and_rule(browser: Browser, alerting: Doc) -> None:
    resolved = await browser.get("/ui/alerts?state=resolved")
    assert rows(resolved.text, "data-incident") == ["inc-resolved"]
    firing = await browser.get(f"/ui/alerts?state=firing&rule={alerting['rule']['id']}")
    assert rows(firing.text, "data-incident") == ["inc-firing"]
    none = await browser.get("/ui/alerts?rule=no-such-rule")
    assert rows(none.text, "data-incident") == [] and "No incidents match" in none.text
    bad = await browser.get("/ui/alerts?state=burning")
    assert bad.status_code == 400 and "state" in bad.text


async def test_an_admin_creates_a_channel_and_a_rule_and_mistakes_are_shown_in_the_form(
    app_client: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    admin = await logged_in(app_client, tokens["admin"])
    await admin.get("/ui/alerts")
    made = await admin.post(
        "/ui/alerts/channels",
        {
            "name": "pager",
            "type": "pagerduty",
            "config": '{"routing_key": "rk-123", "url": "http://127.0.0.1:9/pd"}',
        },
    )
    assert made.status_code == 303 and made.headers["location"] == "/ui/alerts"
    channels = (await app_client.get("/monitor/alerts/channels", headers=AUTH)).json()["data"]
    assert [(c["name"], c["config"]["routing_key"]) for c in channels["channels"]] == [
        ("pager", MASK)
    ]
    pager = channels["channels"][0]["id"]

    wrong = await admin.post(
        "/ui/alerts/channels", {"name": "x", "type": "webhook", "config": '{"url": "ftp://x"}'}
    )
    assert wrong.status_code == 400 and 'data-problem="channel"' in wrong.text
    assert "config." in wrong.text  # names the field at fault

    rule_form = {
        "name": "slow billing",
        "kind": "runtime",
        "filter": '{"name": "billing.*"}',
        "params": '{"seconds": 30}',
        "for": "10",
        "channels": pager,
    }
    assert (await admin.post("/ui/alerts/rules", rule_form)).status_code == 303
    rules = (await app_client.get("/monitor/alerts/rules", headers=AUTH)).json()["data"]["rules"]
    assert [
        (r["name"], r["kind"], r["filter"]["name"], r["params"], r["for"], r["channels"])
        for r in rules
    ] == [("slow billing", "runtime", "billing.*", {"seconds": 30.0}, 10.0, [pager])]
    page = await admin.get("/ui/alerts")
    assert "slow billing" in page.text and "rk-123" not in page.text

    for form, says in (
        ({**rule_form, "params": "{seconds: 30}"}, "params: not JSON"),
        ({**rule_form, "params": "{}"}, "params.seconds"),  # the use case's own check
        ({**rule_form, "kind": "moon_phase"}, "kind"),
        ({**rule_form, "for": "soon"}, "for"),
        ({**rule_form, "channels": "no-such-channel"}, "channel not found"),
    ):
        refused = await admin.post("/ui/alerts/rules", form)
        assert refused.status_code in (400, 404), refused.text
        problem = re.search(r'data-problem="rule">([^<]*)<', refused.text)
        assert problem and says in problem.group(1), (form, problem)
        assert 'value="slow billing"' in refused.text  # the form keeps what was typed
    after = (await app_client.get("/monitor/alerts/rules", headers=AUTH)).json()["data"]["rules"]
    assert len(after) == 1


async def test_an_admin_silences_a_rule_and_a_key_and_ends_a_silence(
    app_client: httpx.AsyncClient, tokens: dict[str, str], alerting: Doc
) -> None:
    rule = alerting["rule"]["id"]
    admin = await logged_in(app_client, tokens["admin"])
    await admin.get("/ui/alerts")
    muted = await admin.post("/ui/alerts/silences", {"rule": rule, "duration": "4h"})
    assert muted.status_code == 303
    page = (await admin.get("/ui/alerts")).text
    assert f'data-rule="{rule}" data-kind="task_failed" data-muted="true"' in page
    keyed = await admin.post(
        "/ui/alerts/silences",
        {
            "key": "billing.refund",
            "until": "2031-01-31T18:00:00+01:00",
            "comment": "migration",
        },
    )
    assert keyed.status_code == 303
    silences = (await app_client.get("/monitor/alerts/silences", headers=AUTH)).json()["data"]
    by_key = {s["key"]: s for s in silences["silences"]}
    assert at(by_key["billing.refund"]["until"]) == datetime(2031, 1, 31, 17, tzinfo=UTC)
    assert by_key[None]["rule"] == rule
    until = at(by_key[None]["until"])
    assert timedelta(hours=3, minutes=59) < until - datetime.now(UTC) <= timedelta(hours=4)

    refused = await admin.post("/ui/alerts/silences", {"duration": "1h"})
    assert refused.status_code == 400 and 'data-problem="silence"' in refused.text
    late = await admin.post("/ui/alerts/silences", {"key": "k", "until": "tomorrow"})
    assert late.status_code == 400 and "until" in late.text

    ended = await admin.post(f"/ui/alerts/silences/{by_key[None]['id']}/delete")
    assert ended.status_code == 303
    page = (await admin.get("/ui/alerts")).text
    assert f'data-rule="{rule}" data-kind="task_failed" data-muted="false"' in page


async def test_deleting_asks_for_the_name_to_be_typed(
    app_client: httpx.AsyncClient, tokens: dict[str, str], alerting: Doc
) -> None:
    admin = await logged_in(app_client, tokens["admin"])
    await admin.get("/ui/alerts")
    for kind, made in (("rules", alerting["rule"]), ("channels", alerting["channel"])):
        url = f"/ui/alerts/{kind}/{made['id']}/delete"
        asked = await admin.post(url)
        assert asked.status_code == 200 and f"Type <strong>{made['name']}</strong>" in asked.text
        assert 'href="/ui/alerts">Cancel' in asked.text
        assert (await admin.post(url, {"confirm": "something else"})).status_code == 200
        listed = await app_client.get(f"/monitor/alerts/{kind}/{made['id']}", headers=AUTH)
        assert listed.status_code == 200  # not deleted yet
        done = await admin.post(url, {"confirm": made["name"]})
        assert done.status_code == 303
        gone = await app_client.get(f"/monitor/alerts/{kind}/{made['id']}", headers=AUTH)
        assert gone.status_code == 404
    assert (await admin.post("/ui/alerts/rules/no-such-rule/delete")).status_code == 404


async def test_send_test_goes_through_a_notifier_to_the_receiver(
    app_client: httpx.AsyncClient, tokens: dict[str, str], settings: Settings
) -> None:
    admin = await logged_in(app_client, tokens["admin"])
    async with (
        receiving() as ok_receiver,
        receiving(404) as refusing,
        notifier(settings.nats_url, settings.mongo_url, settings.mongo_db),
    ):
        hooks = [
            await rest(
                app_client,
                "channels",
                {"name": name, "type": "webhook", "config": {"url": r.url, "secret": SECRET}},
                "channel",
            )
            for name, r in (("good-hook", ok_receiver), ("bad-hook", refusing))
        ]
        await admin.get("/ui/alerts")
        sent = await admin.post(f"/ui/alerts/channels/{hooks[0]['id']}/test")
        assert sent.status_code == 200, sent.text
        outcome = re.search(r'data-test-outcome="(\w+)" data-channel="([^"]+)"', sent.text)
        assert outcome and outcome.groups() == ("ok", hooks[0]["id"])
        assert 'answer <span data-code="200">200</span>, 1 attempt' in sent.text
        assert "good-hook" in sent.text

        refused = await admin.post(f"/ui/alerts/channels/{hooks[1]['id']}/test")
        assert 'data-test-outcome="failed"' in refused.text and 'data-code="404"' in refused.text
    body = verify(ok_receiver.requests[0])
    assert body["test"] is True and body["status"] == "firing"
    assert [r.status for r in refusing.requests] == [404]


POSTS = (
    "/ui/alerts/channels",
    "/ui/alerts/rules",
    "/ui/alerts/silences",
    "/ui/alerts/silences/{silence}/delete",
    "/ui/alerts/rules/{rule}/delete",
    "/ui/alerts/channels/{channel}/delete",
    "/ui/alerts/channels/{channel}/test",
    "/ui/alerts/channels/{channel}/enable",
)


async def test_forged_or_cross_site_posts_are_refused(
    app_client: httpx.AsyncClient, tokens: dict[str, str], alerting: Doc
) -> None:
    ids = {"rule": alerting["rule"]["id"], "channel": alerting["channel"]["id"]}
    admin = await logged_in(app_client, tokens["admin"])
    await admin.get("/ui/alerts")
    made = await admin.post("/ui/alerts/silences", {"rule": ids["rule"], "duration": "1h"})
    assert made.status_code == 303
    silences = (await app_client.get("/monitor/alerts/silences", headers=AUTH)).json()["data"]
    ids["silence"] = silences["silences"][0]["id"]
    urls = [p.format(**ids) for p in POSTS]
    form = {
        "name": "n",
        "type": "webhook",
        "config": "{}",
        "kind": "task_failed",
        "duration": "1h",
        "rule": ids["rule"],
        "confirm": "fail watch",
    }
    for url in urls:
        assert (await admin.post(url, form, origin="http://evil.example")).status_code == 403
        saved, admin.csrf = admin.csrf, "forged"
        assert (await admin.post(url, form)).status_code == 403, url
        admin.csrf = saved
    for role in ("viewer", "operator"):
        other = await logged_in(app_client, TOKENS[role])
        page = await other.get("/ui/alerts")
        assert actions_in(page.text) == set()
        for url in urls:
            refused = await other.post(url, form)
            assert refused.status_code == 403, (role, url)
            assert "admin role" in refused.text
    rules = (await app_client.get("/monitor/alerts/rules", headers=AUTH)).json()["data"]["rules"]
    assert [r["id"] for r in rules] == [ids["rule"]]  # nothing was deleted or made
    assert (
        len(
            (await app_client.get("/monitor/alerts/channels", headers=AUTH)).json()["data"][
                "channels"
            ]
        )
        == 1
    )


async def test_the_nav_links_the_alerts_page(browser: Browser) -> None:
    page = await browser.get("/ui/tasks")
    assert '<a href="/ui/alerts">Alerts</a>' in page.text
