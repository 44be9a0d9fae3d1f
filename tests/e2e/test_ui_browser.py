"""The web UI in real headless Chromium against the whole system (four service processes, a
real Celery worker): log in, watch demo tasks arrive live, filter and deep link, follow a
task's history, revoke as an operator and find the act in the audit log, a viewer without
buttons whose forged request is refused, the chart, and axe-core's accessibility checks."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from axe_selenium_python import Axe
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait
from tasktrail_devstack.services import running_services

from tests.e2e.browser import browser_factory, new_browser  # noqa: F401
from tests.e2e.test_pipeline import Stack, stack  # noqa: F401
from tests.integration.notifier.receivers import Receiver, receiving

pytestmark = pytest.mark.e2e
WAIT = 45
_profiles = itertools.count()


@pytest.fixture(scope="module")
def ui_tokens(stack: Stack) -> dict[str, str]:  # noqa: F811
    """A token per role: the admin's, and an operator and a viewer made through the API."""
    made = {"admin": stack.token}
    for name, role in (("otto", "operator"), ("vera", "viewer")):
        response = httpx.post(
            f"{stack.api}/monitor/tokens",
            json={"name": name, "role": role},
            headers={"Authorization": f"Bearer {stack.token}"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        made[role] = response.json()["data"]["secret"]
    return made


def open_as(
    opened: list[webdriver.Chrome],
    tmp_path: Path,
    stack: Stack,  # noqa: F811
    token: str,
) -> webdriver.Chrome:
    driver = new_browser(opened, tmp_path / f"profile-{next(_profiles)}")
    driver.get(f"{stack.api}/ui/login")
    driver.find_element(By.NAME, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, WAIT).until(lambda d: "/ui/login" not in d.current_url)
    return driver


DETACHED = "does not belong to the document"


def wait_for(driver: webdriver.Chrome, check: Callable[[webdriver.Chrome], Any]) -> Any:
    """Poll ``check`` until it holds. An element read while the page is being replaced
    (after a click that navigates) is gone before its text comes back: that poll is a miss,
    not a failure; chromedriver reports it as a stale element or as a node that "does not
    belong to the document"."""

    def settled(d: webdriver.Chrome) -> Any:
        try:
            return check(d)
        except WebDriverException as exc:
            if isinstance(exc, StaleElementReferenceException) or DETACHED in str(exc):
                return False
            raise

    return WebDriverWait(driver, WAIT, poll_frequency=0.2).until(settled)


def css(driver: webdriver.Chrome, selector: str) -> list[Any]:
    return driver.find_elements(By.CSS_SELECTOR, selector)


def serious_violations(driver: webdriver.Chrome) -> list[str]:
    axe = Axe(driver)
    axe.inject()
    results = axe.run()
    return [
        f"{v['id']} ({v['impact']}): {[(n['target'], n.get('failureSummary')) for n in nodes]}"
        for v in results["violations"]
        if (nodes := v["nodes"][:3])
        if v.get("impact") in ("serious", "critical")
    ]


def test_demo_tasks_appear_live_and_the_list_filters_and_deep_links(
    stack: Stack, ui_tokens: dict[str, str], browser_factory: list[webdriver.Chrome],  # noqa: F811
    tmp_path: Path,
) -> None:  # fmt: skip
    driver = open_as(browser_factory, tmp_path, stack, ui_tokens["admin"])
    driver.get(f"{stack.api}/ui/tasks")
    wait_for(driver, lambda d: css(d, "#live-dot.on"))
    driver.execute_script("window.tasktrailNoReload = true;")
    added = stack.client.send_task("demo.add", args=[20, 22])
    failed = stack.client.send_task("demo.fail", args=["browser"])
    wait_for(driver, lambda d: css(d, f'tr[data-task-id="{added.id}"][data-status="SUCCESS"]'))
    wait_for(driver, lambda d: css(d, f'tr[data-task-id="{failed.id}"][data-status="FAILURE"]'))
    assert driver.execute_script("return window.tasktrailNoReload === true;")  # no reload
    assert not serious_violations(driver)

    deep = f"{stack.api}/ui/tasks?status=FAILURE&name=demo.fail"
    driver.get(deep)
    rows = css(driver, "tr[data-task-id]")
    assert rows and {r.get_attribute("data-status") for r in rows} == {"FAILURE"}
    assert failed.id in {r.get_attribute("data-task-id") for r in rows}
    box = driver.find_element(By.CSS_SELECTOR, 'input[name=status][value="FAILURE"]')
    assert box.is_selected()

    driver.get(f"{stack.api}/ui/tasks")
    search = driver.find_element(By.ID, "search")
    search.send_keys("demo.add")
    search.submit()
    wait_for(driver, lambda d: "q=demo.add" in d.current_url)  # free text: name, args, ...
    wait_for(
        driver,
        lambda d: (
            (r := css(d, "tr[data-task-id]")) and all(x.text.startswith("demo.add") for x in r)
        ),
    )
    linked = driver.current_url
    driver.get(linked)  # the filters live in the URL: the link shows the same list
    assert driver.find_element(By.ID, "search").get_attribute("value") == "demo.add"
    assert added.id in {r.get_attribute("data-task-id") for r in css(driver, "tr[data-task-id]")}


def test_the_live_list_keeps_the_rows_a_reload_shows(
    stack: Stack, ui_tokens: dict[str, str], browser_factory: list[webdriver.Chrome],  # noqa: F811
    tmp_path: Path,
) -> None:  # fmt: skip
    """New rows go on top and push the oldest off: the page keeps its size, not a growing
    table, and shows what a reload shows."""
    driver = open_as(browser_factory, tmp_path, stack, ui_tokens["admin"])
    page = f"{stack.api}/ui/tasks?name=demo.mul&limit=2"
    driver.get(page)
    wait_for(driver, lambda d: css(d, "#live-dot.on"))
    driver.execute_script("window.tasktrailNoReload = true;")
    sent = []
    for i in range(3):
        sent.append(stack.client.send_task("demo.mul", args=[i, 2]).id)
        wait_for(driver, lambda d: css(d, f'tr[data-task-id="{sent[-1]}"][data-status="SUCCESS"]'))
    shown = [r.get_attribute("data-task-id") for r in css(driver, "tr[data-task-id]")]
    assert shown == [sent[2], sent[1]]
    assert driver.execute_script("return window.tasktrailNoReload === true;")  # no reload
    driver.get(page)
    assert [r.get_attribute("data-task-id") for r in css(driver, "tr[data-task-id]")] == shown


def ids(driver: webdriver.Chrome) -> list[str]:
    return [r.get_attribute("data-task-id") for r in css(driver, "tr[data-task-id]")]


def test_a_row_whose_time_changes_takes_its_place_as_a_reload_would(
    stack: Stack, ui_tokens: dict[str, str], browser_factory: list[webdriver.Chrome],  # noqa: F811
    tmp_path: Path,
) -> None:  # fmt: skip
    """A task shown while it runs, then finished after newer tasks came: its time is now the
    newest, so it moves to the top of the followed list, as a reload shows it."""
    driver = open_as(browser_factory, tmp_path, stack, ui_tokens["admin"])
    page = f"{stack.api}/ui/tasks?name=demo.sleep&limit=3"
    driver.get(page)
    wait_for(driver, lambda d: css(d, "#live-dot.on"))
    slow = stack.client.send_task("demo.sleep", args=[6]).id
    wait_for(driver, lambda d: css(d, f'tr[data-task-id="{slow}"][data-status="STARTED"]'))
    quick = []
    for _ in range(2):
        quick.append(stack.client.send_task("demo.sleep", args=[0.05]).id)
        wait_for(driver, lambda d: css(d, f'tr[data-task-id="{quick[-1]}"][data-status="SUCCESS"]'))
    assert ids(driver) == [quick[1], quick[0], slow]
    wait_for(driver, lambda d: css(d, f'tr[data-task-id="{slow}"][data-status="SUCCESS"]'))
    wait_for(driver, lambda d: ids(d) == [slow, quick[1], quick[0]])
    driver.get(page)
    assert ids(driver) == [slow, quick[1], quick[0]]


def test_a_task_page_shows_its_history_and_an_operator_revokes_with_an_audit_entry(
    stack: Stack, ui_tokens: dict[str, str], browser_factory: list[webdriver.Chrome],  # noqa: F811
    tmp_path: Path,
) -> None:  # fmt: skip
    done = stack.client.send_task("demo.add", args=[1, 1])
    long = stack.client.send_task("demo.sleep", args=[60])
    driver = open_as(browser_factory, tmp_path, stack, ui_tokens["operator"])
    driver.get(f"{stack.api}/ui/tasks?name=demo.add")
    link = wait_for(driver, lambda d: css(d, f'tr[data-task-id="{done.id}"] a'))
    link[0].click()
    wait_for(driver, lambda d: d.current_url.endswith(f"/ui/tasks/{done.id}"))
    types = wait_for(
        driver,
        lambda d: (
            (t := [e.get_attribute("data-event-type") for e in css(d, "[data-event-type]")])
            and "task-succeeded" in t
            and t
        ),
    )
    assert {"task-received", "task-started", "task-succeeded"} <= set(types)
    assert not serious_violations(driver)

    driver.get(f"{stack.api}/ui/tasks/{long.id}")
    wait_for(driver, lambda d: css(d, '#task-summary[data-status="STARTED"]'))
    driver.find_element(By.CSS_SELECTOR, 'button[data-action="revoke"]').click()
    wait_for(driver, lambda d: "sent" in d.find_element(By.TAG_NAME, "h1").text)

    def audited(d: webdriver.Chrome) -> bool:
        d.get(f"{stack.api}/ui/audit?type=tasktrail.command.*&actor=otto&uuid={long.id}")
        return bool(css(d, 'tr[data-event-type^="tasktrail.command."][data-actor="otto"]'))

    wait_for(driver, audited)
    assert not serious_violations(driver)


def test_a_viewer_sees_no_action_and_a_forged_revoke_is_refused(
    stack: Stack, ui_tokens: dict[str, str], browser_factory: list[webdriver.Chrome],  # noqa: F811
    tmp_path: Path,
) -> None:  # fmt: skip
    task = stack.client.send_task("demo.add", args=[2, 2])
    driver = open_as(browser_factory, tmp_path, stack, ui_tokens["viewer"])

    def shown(d: webdriver.Chrome) -> bool:
        d.get(f"{stack.api}/ui/tasks/{task.id}")  # 404 until the projector has it
        return bool(css(d, "#task-summary"))

    wait_for(driver, shown)
    assert css(driver, "[data-action]") == []
    driver.get(f"{stack.api}/ui/tasks")
    assert css(driver, "[data-action]") == []
    status = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const csrf = document.querySelector("input[name=csrf]").value;
        fetch("/ui/tasks/" + arguments[0] + "/revoke", {method: "POST",
              headers: {"Content-Type": "application/x-www-form-urlencoded"},
              body: "csrf=" + encodeURIComponent(csrf)}).then(r => done(r.status));
        """,
        task.id,
    )
    assert status == 403
    driver.get(f"{stack.api}/ui/workers")
    assert css(driver, "tr[data-worker][data-online=true]")
    assert not serious_violations(driver)


def test_the_overview_chart_has_data(
    stack: Stack, ui_tokens: dict[str, str], browser_factory: list[webdriver.Chrome],  # noqa: F811
    tmp_path: Path,
) -> None:  # fmt: skip
    stack.client.send_task("demo.add", args=[3, 3])
    driver = open_as(browser_factory, tmp_path, stack, ui_tokens["viewer"])

    def charted(d: webdriver.Chrome) -> bool:
        d.get(f"{stack.api}/ui/")
        chart = wait_for(d, lambda x: css(x, "#chart[data-total]"))[0]
        return int(chart.get_attribute("data-total")) > 0 and bool(css(d, "#chart canvas"))

    deadline = time.monotonic() + 60
    while not charted(driver):
        assert time.monotonic() < deadline, "the chart never had data"
        time.sleep(1)
    assert int(driver.find_element(By.CSS_SELECTOR, '[data-count="task_success"] .n').text) > 0
    assert not serious_violations(driver)
    logs: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    blocked = [entry for entry in logs if "Content Security Policy" in json.dumps(entry)]
    assert blocked == []  # nothing the page does is refused by its own policy


def reloading(driver: webdriver.Chrome, selector: str) -> list[Any]:
    """The elements ``selector`` finds, reloading the page when there are none yet (what the
    page shows is read when it is loaded)."""
    found = css(driver, selector)
    if not found:
        driver.refresh()
    return found


def press(driver: webdriver.Chrome, key: str) -> None:
    """A key pressed with nothing focused but the page (as a reader does after a click)."""
    driver.execute_script("if (document.activeElement) document.activeElement.blur();")
    ActionChains(driver).send_keys(key).perform()


def test_keys_search_move_through_rows_and_open_a_task(
    stack: Stack, ui_tokens: dict[str, str], browser_factory: list[webdriver.Chrome],  # noqa: F811
    tmp_path: Path,
) -> None:  # fmt: skip
    sent = [stack.client.send_task("demo.add", args=[i, 100]) for i in range(3)]
    driver = open_as(browser_factory, tmp_path, stack, ui_tokens["viewer"])
    driver.get(f"{stack.api}/ui/tasks?name=demo.add")
    wait_for(driver, lambda d: reloading(d, f'tr[data-task-id="{sent[-1].id}"]'))
    driver.find_element(By.ID, "pause").click()  # rows stay where they are while keys move
    press(driver, "/")
    assert driver.execute_script("return document.activeElement.id;") == "search"
    ids = [r.get_attribute("data-task-id") for r in css(driver, "tr[data-task-id]")]
    assert len(ids) >= 3

    def selected(d: webdriver.Chrome) -> list[str]:
        return [r.get_attribute("data-task-id") for r in css(d, "tr.selected")]

    press(driver, "j")
    assert selected(driver) == [ids[0]]
    press(driver, "j")
    assert selected(driver) == [ids[1]]
    press(driver, "j")
    press(driver, "k")
    assert selected(driver) == [ids[1]]
    row = "var r = document.activeElement.closest('tr'); return r && r.dataset.taskId;"
    assert driver.execute_script(row) == ids[1]  # the row's link has the focus: Enter opens it
    ActionChains(driver).send_keys(Keys.ENTER).perform()
    wait_for(driver, lambda d: d.current_url.endswith(f"/ui/tasks/{ids[1]}"))
    assert css(driver, f'#task-summary[data-task-id="{ids[1]}"]')


def test_the_metrics_and_worker_pages_in_the_browser(
    stack: Stack, ui_tokens: dict[str, str], browser_factory: list[webdriver.Chrome],  # noqa: F811
    tmp_path: Path,
) -> None:  # fmt: skip
    driver = open_as(browser_factory, tmp_path, stack, ui_tokens["operator"])
    stack.client.send_task("demo.add", args=[5, 5])
    driver.get(f"{stack.api}/ui/metrics")
    done = 'tr[data-metrics-name="demo.add"] td[data-success-rate="1.0000"]'  # demo.add succeeds
    wait_for(driver, lambda d: reloading(d, done))
    assert css(driver, 'tr[data-metrics-name="demo.add"] td[data-percentile]')
    assert not serious_violations(driver)
    driver.get(f"{stack.api}/ui/workers")
    rows = wait_for(driver, lambda d: css(d, 'tr[data-worker][data-online="true"]'))
    page = f"{stack.api}/ui/workers/{rows[0].get_attribute('data-worker')}"
    driver.get(page)
    driver.find_element(By.CSS_SELECTOR, 'button[data-action="refresh"]').click()
    wait_for(driver, lambda d: "sent" in d.find_element(By.TAG_NAME, "h1").text)
    driver.get(page)  # the inspection travels through the log and the projector
    pool = wait_for(driver, lambda d: reloading(d, "dd[data-pool]"))
    assert pool[0].get_attribute("data-pool")  # prefork, solo, threads...
    assert css(driver, 'li[data-registered^="demo.add"]') and css(driver, "li[data-queue]")
    assert not serious_violations(driver)


@contextlib.contextmanager
def receiver_in_a_thread() -> Iterator[Receiver]:
    """The notifier tests' HTTP receiver, on an event loop of its own thread (these tests
    drive the browser synchronously)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    served = receiving()
    try:
        yield asyncio.run_coroutine_threadsafe(served.__aenter__(), loop).result(10)
    finally:
        asyncio.run_coroutine_threadsafe(served.__aexit__(None, None, None), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def fill(driver: webdriver.Chrome, form: str, values: dict[str, str]) -> None:
    """Open the ``<details>`` holding ``form`` and type ``values`` into its fields."""
    details = driver.find_element(By.CSS_SELECTOR, f'details:has(form[action="{form}"])')
    if not details.get_attribute("open"):
        details.find_element(By.TAG_NAME, "summary").click()
    for name, value in values.items():
        field = details.find_element(By.NAME, name)
        if field.tag_name == "select":
            Select(field).select_by_value(value)
        else:
            field.clear()
            field.send_keys(value)


def test_an_admin_makes_a_webhook_channel_and_a_rule_and_sends_a_test(
    stack: Stack, ui_tokens: dict[str, str], browser_factory: list[webdriver.Chrome],  # noqa: F811
    tmp_path: Path,
) -> None:  # fmt: skip
    """The Alerts page's forms, then "Send test" through a real notifier process to a local
    webhook receiver: the page shows what the receiver answered."""
    assert stack.logs is not None
    with (
        receiver_in_a_thread() as hook,
        running_services(("notifier",), stack.env, stack.logs),
    ):
        driver = open_as(browser_factory, tmp_path, stack, ui_tokens["admin"])
        driver.get(f"{stack.api}/ui/alerts")
        config = json.dumps({"url": f"{hook.url}/hook", "secret": "browser-secret"})
        fill(driver, "/ui/alerts/channels", {"name": "ops-hook", "type": "webhook",
                                             "config": config})  # fmt: skip
        driver.find_element(By.CSS_SELECTOR, 'button[data-action="alert-create-channel"]').click()
        row = wait_for(driver, lambda d: css(d, 'tr[data-channel][data-type="webhook"]'))[0]
        channel = row.get_attribute("data-channel")
        assert "browser-secret" not in driver.page_source  # kept, never shown again

        # a task name no test sends: other tests of this module make demo.fail fail, and a rule
        # on it would (rightly) notify the receiver of them beside the test send
        fill(driver, "/ui/alerts/rules", {"name": "browser failures", "kind": "task_failed",
                                          "filter": '{"name": "browser.never"}'})  # fmt: skip
        driver.find_element(By.CSS_SELECTOR, f'input[name=channels][value="{channel}"]').click()
        driver.find_element(By.CSS_SELECTOR, 'button[data-action="alert-create-rule"]').click()
        rule = wait_for(driver, lambda d: css(d, 'tr[data-rule][data-kind="task_failed"]'))[0]
        assert "ops-hook" in rule.text and "browser.never" in rule.text

        test = f'tr[data-channel="{channel}"] button[data-action="alert-test"]'
        driver.find_element(By.CSS_SELECTOR, test).click()
        shown = wait_for(driver, lambda d: css(d, "[data-test-outcome]"))[0]
        assert shown.get_attribute("data-test-outcome") == "ok", shown.text
        assert "answer 200, 1 attempt" in shown.text
        assert not serious_violations(driver)
    [sent] = hook.requests
    body = sent.json()
    assert body["test"] is True and body["status"] == "firing"
    assert sent.headers["x-tasktrail-signature"].startswith("sha256=")


@pytest.mark.skipif(
    not os.environ.get("TASKTRAIL_SCREENSHOTS"),
    reason="make screenshots sets TASKTRAIL_SCREENSHOTS",
)
def test_readme_screenshots(
    stack: Stack, ui_tokens: dict[str, str], browser_factory: list[webdriver.Chrome],  # noqa: F811
    tmp_path: Path,
) -> None:  # fmt: skip
    """The README's pictures of the demo stack: overview, tasks and a task's page."""
    out = Path(os.environ["TASKTRAIL_SCREENSHOTS"])
    out.mkdir(parents=True, exist_ok=True)
    parent = stack.client.signature("demo.add", args=(2, 3))
    chain = (parent | stack.client.signature("demo.mul", args=(4,))).apply_async()
    for i in range(12):
        stack.client.send_task("demo.add", args=[i, i])
    stack.client.send_task("demo.fail", args=["for the inbox"])
    driver = open_as(browser_factory, tmp_path, stack, ui_tokens["admin"])

    def shown(path: str, selector: str) -> None:
        def ready(d: webdriver.Chrome) -> bool:
            d.get(f"{stack.api}{path}")
            return bool(css(d, selector))

        wait_for(driver, ready)
        time.sleep(1)

    shown("/ui/", "#chart canvas")
    driver.save_screenshot(str(out / "overview.png"))
    shown("/ui/tasks", 'tr[data-status="FAILURE"]')
    driver.save_screenshot(str(out / "tasks.png"))
    shown(f"/ui/tasks/{chain.parent.id}", '[data-event-type="task-succeeded"]')
    driver.save_screenshot(str(out / "task.png"))
    assert all((out / f"{name}.png").stat().st_size > 0 for name in ("overview", "tasks", "task"))
