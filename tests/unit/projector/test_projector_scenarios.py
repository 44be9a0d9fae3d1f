"""Real lifecycles with API records: any order, duplication, batching or replica split gives
the same documents, stats and lost flags."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tasktrail_projector.adapters.store import STATS
from tasktrail_projector.service import Projector
from tasktrail_projector.sweeps import Maintenance
from tasktrail_shared.mongo import TASK_EVENTS, TASKS, WORKERS

from tests.unit.projector import scenario
from tests.unit.projector.builders import deliveries
from tests.unit.projector.fakes import FakeSource, FakeStore
from tests.unit.projector.replay import fold
from tests.unit.projector.test_projector_order import split

ITEMS = scenario.decoded()
EXPECTED = fold([ITEMS])
Docs = dict[Any, dict[str, Any]]


def test_the_scenario_ends_as_celery_and_the_api_said() -> None:
    tasks, workers = EXPECTED
    assert {k: d["state"] for k, d in tasks.items()} == {
        "ok": "SUCCESS",
        "bad": "FAILURE",
        "flaky": "SUCCESS",
        "long": "REVOKED",
        "nope": "RECEIVED",  # Celery's precedence: RECEIVED outranks REJECTED
        "doomed": "STARTED",
        "child": "RECEIVED",
        "manual": "STARTED",  # amended: amendments override even the reconciliation
    }
    assert tasks["ok"]["children"] == ["child"] and tasks["child"]["parent_id"] == "ok"
    assert tasks["flaky"]["retries"] == 1 and tasks["flaky"]["exception"] == "Busy()"
    assert tasks["long"]["revoke"] == {"terminated": True, "signum": 9, "expired": False}
    assert tasks["nope"]["rejected"] is not None
    assert tasks["bad"]["deleted"] and not tasks["manual"]["deleted"]
    assert (tasks["manual"]["name"], tasks["manual"]["worker"]) == ("manual.v2", scenario.W3)
    assert tasks["manual"]["result"] == "42"  # filled by the reconciliation
    assert tasks["ok"]["cidr_id"] is None  # no label rules in the pure fold
    assert workers[scenario.W1]["offline_at"] is not None
    assert workers[scenario.W2]["sw_ver"] == "5.4.1" and workers[scenario.W3]["deleted"]
    assert workers[scenario.W1]["inspected"]["registered"] == ["scan.tasks.x"]


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_any_order_duplication_and_batching_of_real_lifecycles(data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(ITEMS))
    extra = data.draw(st.lists(st.sampled_from(ITEMS), max_size=30))
    mixed = data.draw(st.permutations([*shuffled, *extra]))
    sizes = data.draw(st.lists(st.integers(1, 12), min_size=1, max_size=5))
    assert fold(split(mixed, sizes)) == EXPECTED


def public(docs: Docs) -> Docs:
    return {k: {f: v for f, v in d.items() if f != "_v"} for k, d in docs.items()}


async def project(order: list[int], replicas: int, batch: int, seed: int) -> FakeStore:
    """Project the scenario's messages in ``order`` (duplicates allowed) with ``replicas``
    projectors sharing one store, racing at every store call, then run the sweeps."""
    envelopes = scenario.messages()
    store = FakeStore(yields=True)
    chosen = deliveries([envelopes[i] for i in order])
    rng = random.Random(seed)
    shares: list[list[Any]] = [[] for _ in range(replicas)]
    for delivery in chosen:
        shares[rng.randrange(replicas)].append(delivery)
    projectors = [Projector(FakeSource(share), store, batch_size=batch) for share in shares]

    async def drain(projector: Projector) -> None:
        while await projector.step():
            pass

    await asyncio.gather(*(drain(p) for p in projectors))
    await Maintenance(store).settle(scenario.AFTER)
    return store


def outcome(store: FakeStore) -> tuple[Docs, ...]:
    history = {
        k: {f: v for f, v in d.items() if f != "seq"} for k, d in store.docs(TASK_EVENTS).items()
    }
    return (public(store.docs(TASKS)), public(store.docs(WORKERS)), store.docs(STATS), history)


BASELINE: dict[str, tuple[Docs, ...]] = {}


def baseline() -> tuple[Docs, ...]:
    if not BASELINE:
        count = len(scenario.messages())
        BASELINE["one"] = outcome(asyncio.run(project(list(range(count)), 1, 500, 0)))
    return BASELINE["one"]


def test_the_service_stores_the_pure_fold_and_flags_the_lost_task() -> None:
    tasks, workers, stats, history = baseline()
    expected_tasks, expected_workers = EXPECTED
    lost = {k for k, d in tasks.items() if d["lost"]}
    # W2 went silent mid-task, W3 never answered its inspection, W1 shut down with a task it
    # had only received; the task W1 rejected is not lost
    assert lost == {"doomed", "manual", "child"}
    assert {k: {**d, "lost": False} for k, d in tasks.items()} == expected_tasks
    assert workers == expected_workers
    audited = ("tasktrail.worker.recorded", "tasktrail.worker.amended", "tasktrail.worker.deleted")
    assert len(history) == sum(
        1
        for env in scenario.messages()
        if env.type.startswith(("celery.task", "tasktrail.task", "tasktrail.command"))
        or env.type in audited
    )
    minute = datetime.fromtimestamp(scenario.T0 + 60, UTC)
    [bucket] = [b for b in stats.values() if b["minute"] == minute]
    assert bucket["counts"] == {
        "PENDING": 1,
        "RECEIVED": 4,
        "REJECTED": 1,
        "REVOKED": 1,
        "STARTED": 2,
        "SUCCESS": 2,
    }
    runtime = bucket["runtime"]
    assert (runtime["count"], runtime["min"], runtime["max"]) == (2, 0.2, 59.8)
    assert runtime["sum"] == 60.0 and sum(runtime["hist"]) == 2
    first = next(b for b in stats.values() if b["minute"] == minute.replace(minute=0))
    assert first["counts"] == {"PENDING": 5, "RECEIVED": 2, "RETRY": 1, "STARTED": 2}


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_replicas_orders_and_duplicates_give_what_one_projector_gives(
    data: st.DataObject,
) -> None:
    count = len(scenario.messages())
    order = data.draw(st.permutations(range(count)))
    order += data.draw(st.lists(st.integers(0, count - 1), max_size=10))
    replicas = data.draw(st.integers(1, 3))
    batch = data.draw(st.integers(1, 8))
    seed = data.draw(st.integers(0, 1000))
    assert outcome(asyncio.run(project(order, replicas, batch, seed))) == baseline()
