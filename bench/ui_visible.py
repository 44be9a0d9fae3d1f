"""Event to visible: Celery events published on the broker at a steady rate, through the
collector, the log, the projector, its change notice and the API's live stream, until the
task's row appears in the tasks page open in headless Chromium.

The page records, with a MutationObserver, when each task row is first added (epoch ms, the
browser's ``performance.timeOrigin + now()``: the same clock as the publisher's on one
machine); the latency of a task is that time minus when its ``task-sent`` event was
published. Rows arrive only while the page may insert them (newest first, scrolled to the
top): the count of tasks seen says how many of those published showed.
"""

from __future__ import annotations

import base64
import json
import statistics
import time
from pathlib import Path
from typing import Any

import redis
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bench.firehose import Firehose
from tests.e2e.browser import chromium

TICK = 0.1
OBSERVE = """
window.__seen = {};
const body = document.getElementById("task-rows");
new MutationObserver(function (records) {
  const at = performance.timeOrigin + performance.now();
  for (const r of records) for (const n of r.addedNodes) {
    if (n.dataset && n.dataset.taskId && !(n.dataset.taskId in window.__seen)) {
      window.__seen[n.dataset.taskId] = at;
    }
  }
}).observe(body, {childList: true});
"""


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


def measure(
    base: str, token: str, redis_url: str, workdir: Path, events_per_s: int, seconds: float
) -> dict[str, Any]:
    """p50 and p99 (nearest rank) of event to visible, and how many published tasks showed."""
    driver = chromium(workdir / "chromium-profile")
    try:
        driver.get(f"{base}/ui/login")
        driver.find_element(By.NAME, "token").send_keys(token)
        driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
        WebDriverWait(driver, 30).until(lambda d: "/ui/login" not in d.current_url)
        driver.get(f"{base}/ui/tasks")
        WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#live-dot.on"))
        driver.execute_script(OBSERVE)
        published = publish(redis_url, events_per_s, seconds)
        time.sleep(5)  # the last events' way through
        seen: dict[str, float] = driver.execute_script("return window.__seen;")
    finally:
        driver.quit()
    latencies = sorted(seen[t] - at for t, at in published.items() if t in seen)
    if not latencies:
        return {"events_per_s": events_per_s, "tasks": len(published), "seen": 0}
    p99 = latencies[max(0, -(-99 * len(latencies) // 100) - 1)]
    return {
        "events_per_s": events_per_s,
        "seconds": seconds,
        "tasks": len(published),
        "seen": len(latencies),
        "p50_ms": round(statistics.median(latencies), 1),
        "p99_ms": round(p99, 1),
    }
