"""``/metrics``'s exposition: it parses with prometheus_client, its values are the counters'
and the documents', labels beyond the limit fold into ``other``, and every metric the
Grafana dashboards of celery-exporter and Flower query is in it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from tasktrail_api.domain.metrics import exposition
from tasktrail_shared import counts

DASHBOARDS = Path(__file__).parents[2] / "fixtures" / "dashboards"
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
AT = NOW - timedelta(minutes=1)


def task(name: str, worker: str, state: str, **fields: Any) -> dict[str, Any]:
    times = {"sent": AT, "received": AT, "started": AT + timedelta(seconds=0.25)}
    done = {"SUCCESS": "succeeded", "FAILURE": "failed"}.get(state)
    if done:
        times[done] = AT + timedelta(seconds=1)
    if state == "RECEIVED":
        times.pop("started")
    return {"name": name, "worker": worker, "queue": "celery", "state": state, **times, **fields}


def totals(*docs: dict[str, Any], app: str = "c1") -> dict[str, Any]:
    tally: counts.Tally = {}
    for doc in docs:
        for key, cell in counts.lifecycle_cells(doc):
            counts.add(tally, key, cell)
        for key in counts.task_keys(doc):
            counts.add(tally, key, counts.Cell.of(doc))
    return counts.document(counts.TOTAL, app, None, tally)


TASKS = [
    task("demo.add", "w1", "SUCCESS", runtime=0.3),
    task("demo.add", "w1", "SUCCESS", runtime=2.0),
    task("demo.add", "w2", "FAILURE", exception="TypeError('x')"),
    task("demo.mul", "w2", "RECEIVED"),
    task("demo.mul", "w1", "REVOKED", revoked=AT, started=None),
    task("demo.mul", "w1", "RETRY", retried=AT),
    task("demo.mul", "w1", "REJECTED", rejected=AT),
]
WORKERS = [
    {"_id": w, "hostname": w, "app": "c1", "alive_until": NOW + timedelta(seconds=s), "active": n}
    for w, s, n in (("w1", 5, 2), ("w2", -5, 1))
]
QUEUES = [{"_id": "c1/celery", "app": "c1", "queue": "celery", "depth": 7}]


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict[Any, float], metric: str, **labels: str) -> float:
    return found[(metric, frozenset(labels.items()))]


def test_the_exposition_parses_and_holds_the_counters() -> None:
    text = exposition([totals(*TASKS)], WORKERS, QUEUES, NOW, limit=100)
    found = samples(text)
    add = {"name": "demo.add", "queue_name": "celery"}
    assert value(found, "celery_task_succeeded_total", hostname="w1", **add) == 2
    assert value(found, "celery_task_received_total", hostname="w2", **add) == 1
    assert (
        value(found, "celery_task_failed_total", hostname="w2", exception="TypeError", **add) == 1
    )
    assert (
        value(found, "flower_events_total", worker="w2", type="task-received", task="demo.mul") == 1
    )
    assert value(found, "celery_task_runtime_count", hostname="w1", **add) == 2
    assert value(found, "celery_task_runtime_sum", hostname="w1", **add) == pytest.approx(2.3)
    assert value(found, "celery_task_runtime_bucket", hostname="w1", le="0.5", **add) == 1
    assert value(found, "celery_task_runtime_bucket", hostname="w1", le="+Inf", **add) == 2
    assert value(found, "flower_task_runtime_seconds_count", worker="w1", task="demo.add") == 2
    assert value(found, "celery_worker_up", hostname="w1") == 1
    assert value(found, "celery_worker_up", hostname="w2") == 0
    assert value(found, "celery_worker_tasks_active", hostname="w1") == 2
    assert value(found, "celery_worker_tasks_active", hostname="w2") == 0  # offline
    assert value(found, "flower_worker_online", worker="w1") == 1
    assert value(found, "flower_worker_number_of_currently_executing_tasks", worker="w1") == 2
    assert value(found, "flower_worker_prefetched_tasks", worker="w2", task="demo.mul") == 1
    assert value(found, "flower_task_prefetch_time_seconds", worker="w1", task="demo.add") == 0.25
    assert value(found, "celery_queue_length", queue_name="celery") == 7
    assert value(found, "tasktrail_tasks", app="c1", state="SUCCESS") == 2
    types = {f.name: f.type for f in text_string_to_metric_families(text)}
    assert types["celery_task_sent"] == "counter" and types["celery_task_runtime"] == "histogram"


def test_names_and_workers_beyond_the_limit_fold_into_other() -> None:
    busy = [task("busy", "w1", "SUCCESS", runtime=0.1) for _ in range(3)]
    quiet = [task(f"quiet{i}", f"w{i + 2}", "SUCCESS", runtime=0.1) for i in range(3)]
    found = samples(exposition([totals(*busy, *quiet)], [], [], NOW, limit=1))
    succeeded = {
        (dict(labels)["name"], dict(labels)["hostname"]): v
        for (name, labels), v in found.items()
        if name == "celery_task_succeeded_total"
    }
    assert succeeded == {("busy", "w1"): 3, ("other", "other"): 3}


def dashboard_metrics(path: Path) -> set[str]:
    """The metric names the panels' query expressions use."""

    def exprs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            for key, item in node.items():
                if key == "expr" and isinstance(item, str):
                    yield item
                else:
                    yield from exprs(item)
        elif isinstance(node, list):
            for item in node:
                yield from exprs(item)

    names: set[str] = set()
    for expr in exprs(json.loads(path.read_text())):
        names.update(re.findall(r"\b(?:celery|flower)_[a-z_]+", expr))
    return names


@pytest.mark.parametrize("dashboard", sorted(p.name for p in DASHBOARDS.glob("*.json")))
def test_every_metric_the_dashboards_query_is_exposed(dashboard: str) -> None:
    wanted = dashboard_metrics(DASHBOARDS / dashboard)
    assert wanted, "the dashboard queries nothing"
    found = {name for name, _ in samples(exposition([totals(*TASKS)], WORKERS, QUEUES, NOW, 100))}
    assert wanted - found == set()
    print(dashboard, sorted(wanted))
