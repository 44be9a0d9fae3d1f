"""Event to visible: Celery events published on the broker at a steady rate, through the
collector, the log, the projector, its change notice and the API's live stream, until the
tasks page open in headless Chromium shows them.

What counts as visible. The page is the default tasks list: newest first, 100 rows. At 1,000
events/s (250 new tasks/s) a row is pushed off that page 0.4 s after it arrives, so a task
whose row never showed is not necessarily late: a page that jumped from older tasks straight
to newer ones has shown everything it should. So each task is timed by *the newest task at
each render*: the page has caught up with a task once it shows that task or one published
after it, and the latency of every published task (none left out) is the first render that
caught up with it minus when its ``task-sent`` event was published. A page that stalls makes
every task published during the stall late; a page that skips rows it should show is caught
by the final check: once the traffic stops, the live page's rows must be exactly those a
reload shows.

Renders are recorded in the page by a MutationObserver (epoch ms, the browser's
``performance.timeOrigin + now()``: the same clock as the publisher's on one machine). To
see where the time goes, a probe beside the browser records when each task's ``task-sent``
entered the log, when a change notice on core NATS first named the task (just after the
projector applied its batch), and when it first came in a ``rows`` push of the live stream
the browser follows (the API's coalescing and rendering); the rest is the browser's.

    python -m bench.ui_visible                  # 3 rounds of 10 s at 1,000 events/s
    python -m bench.ui_visible --rounds 5 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import nats
import redis
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait
from tasktrail_devstack.processes import ServiceProcess, find_binary
from tasktrail_devstack.servers import MongoServer, NatsServer, RedisServer, free_port
from tasktrail_shared.changes import ChangeNotice, change_subject
from tasktrail_shared.stream_message import subject_for

from bench.firehose import Firehose
from tests.e2e.browser import chromium

TICK = 0.1
DRAIN = 15.0
"""Seconds after the last publication the page has to catch up, at most."""
PAGE_ROWS = 100
OBSERVE = """
window.__renders = [];
const body = document.getElementById("task-rows");
new MutationObserver(function (records) {
  const at = performance.timeOrigin + performance.now();
  const ids = [];
  for (const r of records) for (const n of r.addedNodes) {
    if (n.dataset && n.dataset.taskId) ids.push(n.dataset.taskId);
  }
  if (ids.length) window.__renders.push([at, ids]);
}).observe(body, {childList: true});
"""
ROWS = """
return Array.from(document.querySelectorAll("#task-rows > tr[data-task-id]"))
  .slice(0, arguments[0]).map(r => r.dataset.taskId);
"""
TASK_ID = re.compile(r'data-task-id="([0-9a-f-]{36})"')


def _sent_ids(messages: list[tuple[str, bytes]]) -> list[str]:
    """The task ids of the ``task.sent`` messages of a batch."""
    ids = []
    for channel, payload in messages:
        if channel.endswith("task.sent"):
            body = json.loads(base64.b64decode(json.loads(payload)["body"]))
            ids.append(str(body["uuid"]))
    return ids


def publish(redis_url: str, events_per_s: int, seconds: float) -> dict[str, float]:
    """Task lifecycles (four events each) on a 100 ms schedule; when each task's
    ``task-sent`` went out (epoch ms)."""
    hose = Firehose()
    client = redis.Redis.from_url(redis_url)
    per_tick = events_per_s * TICK / 4
    batches = []
    owed = 0.0
    for i in range(int(seconds / TICK)):
        owed += per_tick
        batch = hose.tasks(int(owed))
        owed -= int(owed)
        if i % int(2 / TICK) == 0:
            batch.messages.extend(hose.heartbeats().messages)
        batches.append((batch.messages, _sent_ids(batch.messages)))
    published: dict[str, float] = {}
    start = time.perf_counter()
    for i, (messages, ids) in enumerate(batches):
        pipe = client.pipeline(transaction=False)
        for channel, payload in messages:
            pipe.publish(channel, payload)
        at = time.time() * 1000
        pipe.execute()
        published.update(dict.fromkeys(ids, at))
        delay = start + (i + 1) * TICK - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    client.close()
    return published


class Probe:
    """When each task was first named by a change notice, and first pushed as a row on the
    live stream the browser follows (epoch ms); in a thread of its own."""

    def __init__(self, nats_url: str, app: str, base: str, cookies: httpx.Cookies) -> None:
        self.logged: dict[str, float] = {}
        self.noticed: dict[str, float] = {}
        self.pushed: dict[str, float] = {}
        self.events: dict[str, int] = {}
        self._args = (nats_url, app, base, cookies)
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._loop.run_until_complete, args=(self._run(),))

    def __enter__(self) -> Probe:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the probe could not connect")
        return self

    def __exit__(self, *_: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    async def _run(self) -> None:
        nats_url, app, base, cookies = self._args
        nc = await nats.connect(nats_url)
        await nc.subscribe(change_subject(app), cb=self._on_notice)
        await nc.subscribe(subject_for(app, "celery.task.sent"), cb=self._on_logged)
        listening = asyncio.create_task(self._listen(base, cookies))
        await self._stop.wait()
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
        await nc.close()

    async def _on_logged(self, msg: Any) -> None:
        at = time.time() * 1000
        for task_id in _sent_ids([("task.sent", msg.data)]):
            self.logged.setdefault(task_id, at)

    async def _on_notice(self, msg: Any) -> None:
        at = time.time() * 1000
        for task_id in ChangeNotice.model_validate_json(msg.data).tasks:
            self.noticed.setdefault(task_id, at)

    async def _listen(self, base: str, cookies: httpx.Cookies) -> None:
        async with (
            httpx.AsyncClient(base_url=base, cookies=cookies, timeout=None) as client,
            client.stream("GET", "/ui/live?view=tasks") as stream,
        ):
            self._ready.set()
            name = ""
            async for line in stream.aiter_lines():
                if line.startswith("event: "):
                    name = line[7:]
                    self.events[name] = self.events.get(name, 0) + 1
                elif name == "rows" and line.startswith("data: "):
                    at = time.time() * 1000
                    for task_id in TASK_ID.findall(line):
                        self.pushed.setdefault(task_id, at)


def percentiles(values: Sequence[float]) -> dict[str, float]:
    """p50 and p99 (nearest rank), in ms."""
    ordered = sorted(values)
    if not ordered:
        return {}
    p99 = ordered[max(0, -(-99 * len(ordered) // 100) - 1)]
    return {"p50_ms": round(statistics.median(ordered), 1), "p99_ms": round(p99, 1)}


def caught_up(published: Mapping[str, float], renders: list[list[Any]]) -> dict[str, float]:
    """Per published task, how long until a render showed it or a task published after it."""
    latency: dict[str, float] = {}
    pending = sorted(published.items(), key=lambda item: item[1])
    newest = float("-inf")
    for at, ids in renders:
        newest = max([newest, *(published[i] for i in ids if i in published)])
        while pending and pending[0][1] <= newest:
            task_id, sent = pending.pop(0)
            latency[task_id] = at - sent
    return latency


def stages(published: Mapping[str, float], probe: Probe, shown: Mapping[str, float]) -> Any:
    """p50 and p99 of each step, over the tasks whose row the browser added: into the log
    (broker and collector), to the change notice (the projector), to the push (the API's
    coalescing and rendering), to the page (the browser)."""
    steps: dict[str, list[float]] = {
        "to_log": [], "log_to_notice": [], "notice_to_push": [], "push_to_dom": []
    }  # fmt: skip
    for task_id, at in shown.items():
        times = [published.get(task_id), probe.logged.get(task_id), probe.noticed.get(task_id),
                 probe.pushed.get(task_id), at]  # fmt: skip
        if None in times:
            continue
        for step, before, after in zip(steps.values(), times, times[1:], strict=False):
            step.append(after - before)  # type: ignore[operator]
    return {k: percentiles(v) for k, v in steps.items()}


def login(driver: WebDriver, base: str, token: str) -> None:
    driver.get(f"{base}/ui/login")
    driver.find_element(By.NAME, "token").send_keys(token)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    WebDriverWait(driver, 30).until(lambda d: "/ui/login" not in d.current_url)


def reloaded(client: httpx.Client) -> list[str]:
    """The rows the tasks page shows when loaded afresh."""
    return TASK_ID.findall(client.get("/ui/tasks").text)[:PAGE_ROWS]


def compare(live: list[str], fresh: list[str]) -> dict[str, Any]:
    """Whether the live page shows the rows a reload shows, and in the same order (the page
    follows the list while the reader is at its top: rows take their place by time, ties by
    id, as the server sorts)."""
    return {
        "page_matches_reload": set(live) == set(fresh) and len(live) == len(fresh),
        "only_live": len(set(live) - set(fresh)),
        "only_reload": len(set(fresh) - set(live)),
        "same_order": live == fresh,
    }


def one_round(
    driver: WebDriver, client: httpx.Client, probe_args: tuple[str, str], publishing: Any
) -> dict[str, Any]:
    """Open the tasks page, publish, wait until the page has caught up (or :data:`DRAIN`)."""
    driver.get(str(client.base_url.join("/ui/tasks")))
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#live-dot.on"))
    driver.execute_script(OBSERVE)
    with Probe(*probe_args, str(client.base_url.join("/")), client.cookies) as probe:
        published = publishing()
        newest = max(published, key=lambda t: published[t])
        deadline = time.monotonic() + DRAIN
        while time.monotonic() < deadline and newest not in driver.execute_script(ROWS, 1):
            time.sleep(0.2)
        time.sleep(1.0)  # the last changes of rows already shown
    renders: list[list[Any]] = driver.execute_script("return window.__renders;")
    shown: dict[str, float] = {}
    for at, ids in renders:
        for task_id in ids:
            shown.setdefault(task_id, at)
    latency = caught_up(published, renders)
    return {
        "tasks": len(published),
        "caught_up": len(latency),
        "rows_added": len(shown.keys() & published.keys()),
        "renders": len(renders),
        **percentiles([latency.get(t, DRAIN * 1000 + 1) for t in published]),
        "stages": stages(published, probe, shown),
        "pushes": probe.events,
        **compare(driver.execute_script(ROWS, PAGE_ROWS), reloaded(client)),
    }


def measure(
    base: str, token: str, urls: Mapping[str, str], workdir: Path, events_per_s: int,
    seconds: float, rounds: int,
) -> dict[str, Any]:  # fmt: skip
    """Median over ``rounds`` of p50 and p99 event to visible, with each round's figures."""
    driver = chromium(workdir / "chromium-profile")
    results = []
    try:
        login(driver, base, token)
        with httpx.Client(base_url=base, timeout=60) as client:
            client.post("/ui/login", data={"token": token}, headers={"Origin": base})
            for _ in range(rounds):
                result = one_round(
                    driver,
                    client,
                    (urls["nats"], urls["app"]),
                    lambda: publish(urls["redis"], events_per_s, seconds),
                )
                print(f"  round: {result}", flush=True)
                results.append(result)
    finally:
        driver.quit()
    return {
        "events_per_s": events_per_s,
        "seconds": seconds,
        "measured": "every published task, by the newest task at each render",
        "p50_ms": statistics.median(r.get("p50_ms", float("nan")) for r in results),
        "p99_ms": statistics.median(r.get("p99_ms", float("nan")) for r in results),
        "rounds": results,
    }


@contextmanager
def pipeline(env: dict[str, str], workdir: Path) -> Iterator[None]:
    """The collector and the projector of the API's cluster, ready."""
    collector = ServiceProcess(
        "collector", [find_binary("tasktrail-collector")], log_path=workdir / "c.log", env=env
    )
    projector = ServiceProcess(
        "projector", [find_binary("tasktrail-projector")], log_path=workdir / "p.log", env=env
    )
    with collector, projector:
        for name, service in (("COLLECTOR", collector), ("PROJECTOR", projector)):
            port = env[f"TASKTRAIL_{name}_HEALTH_PORT"]
            service.wait_http_ok(f"http://127.0.0.1:{port}/readyz", 60)
        yield


def stack_env(mongo: str, nats_url: str, redis_url: str, token: str, workdir: Path) -> Any:
    """The environment of the API, the collector and the projector of the ``bench`` cluster."""
    return {
        "TASKTRAIL_MONGO_URL": mongo, "TASKTRAIL_MONGO_DB": "bench",
        "TASKTRAIL_NATS_URL": nats_url, "TASKTRAIL_APP": "bench",
        "TASKTRAIL_ADMIN_TOKEN": token, "TASKTRAIL_API_PORT": str(free_port()),
        "TASKTRAIL_LOG_LEVEL": "WARNING", "TASKTRAIL_API_READ_TIMEOUT": "120",
        "TASKTRAIL_BROKER_URL": redis_url,
        "TASKTRAIL_COLLECTOR_SPOOL_DIR": str(workdir / "spool"),
        "TASKTRAIL_COLLECTOR_HEALTH_PORT": str(free_port()),
        "TASKTRAIL_PROJECTOR_HEALTH_PORT": str(free_port()),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    cli = argparse.ArgumentParser(prog="python -m bench.ui_visible", description=__doc__)
    cli.add_argument("--events", type=int, default=1000, help="events per second")
    cli.add_argument("--seconds", type=float, default=10.0, help="of traffic per round")
    cli.add_argument("--rounds", type=int, default=3)
    args = cli.parse_args(argv)
    token = secrets.token_urlsafe(16)
    workdir = Path(tempfile.mkdtemp(prefix="bench-ui-visible-"))
    with (
        MongoServer(workdir / "mongo") as mongo,
        NatsServer(workdir / "nats") as nats_server,
        RedisServer(workdir / "redis") as redis_server,
    ):
        env = stack_env(mongo.url, nats_server.url, redis_server.url, token, workdir)
        api = ServiceProcess(
            "api", [find_binary("tasktrail-api")], log_path=workdir / "api.log", env=env
        )
        base = f"http://127.0.0.1:{env['TASKTRAIL_API_PORT']}"
        with api, pipeline(env, workdir):
            api.wait_http_ok(f"{base}/readyz", 30)
            urls = {"nats": nats_server.url, "redis": redis_server.url, "app": "bench"}
            result = measure(base, token, urls, workdir, args.events, args.seconds, args.rounds)
    print(json.dumps({k: v for k, v in result.items() if k != "rounds"}))


if __name__ == "__main__":
    main()
