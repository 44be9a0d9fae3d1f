"""Conditions and the incident book, over observations folded from events, at given times."""

from __future__ import annotations

import dataclasses
from typing import Any

from tasktrail_notifier.domain.conditions import holding
from tasktrail_notifier.domain.incidents import Book, incident_id
from tasktrail_notifier.domain.observations import Observations
from tasktrail_notifier.domain.rules import Rule
from tasktrail_notifier.domain.silences import silenced
from tasktrail_shared.alerts import RuleFilter

APP = "c1"


def rule(kind: str, params: dict[str, Any] | None = None, **options: Any) -> Rule:
    flt = RuleFilter.model_validate(options.pop("filter", {}))
    return Rule(
        id="r1", org="default", name="r", kind=kind, filter=flt, params=params or {},
        channels=("ch",), **options,
    )  # fmt: skip


def task(obs: Observations, at: float, uuid: str, kind: str, **fields: Any) -> None:
    obs.fold(APP, at, {"type": kind, "uuid": uuid, "hostname": "w1", "timestamp": at, **fields})


def run(obs: Observations, at: float, uuid: str, name: str, ok: bool, **fields: Any) -> None:
    task(obs, at, uuid, "task-received", name=name)
    task(obs, at, uuid, "task-succeeded" if ok else "task-failed", **fields)


def step(book: Book, r: Rule, obs: Observations, now: float) -> list[tuple[str, str, int]]:
    held = holding(r, obs.cluster(APP), APP, now)
    return [(c.kind, c.incident.key, c.reminder) for c in book.step(r, APP, held, now)]


def test_task_failed_opens_once_and_resolves_when_the_task_succeeds() -> None:
    obs, book, r = Observations(), Book(), rule("task_failed", filter={"name": "demo.*"})
    run(obs, 100.0, "u1", "demo.add", ok=False, exception="TypeError('x')")
    run(obs, 101.0, "u2", "other.add", ok=False)
    assert step(book, r, obs, 102.0) == [("opened", "demo.add", 0)]
    run(obs, 103.0, "u3", "demo.add", ok=False)
    assert step(book, r, obs, 104.0) == []  # still the same incident
    (opened,) = book.open.values()
    assert opened.id == incident_id("r1", APP, "demo.add", 100.0)  # from the first failure
    run(obs, 105.0, "u4", "demo.add", ok=True)
    assert step(book, r, obs, 106.0) == [("resolved", "demo.add", 0)]
    assert opened.resolved_at == 106.0 and book.open == {}


def test_the_same_events_give_the_same_incident_id_at_any_tick() -> None:
    ids = []
    for now in (100.5, 250.0):
        obs, book, r = Observations(), Book(), rule("task_failed")
        run(obs, 100.0, "u1", "t", ok=False)
        step(book, r, obs, now)
        ids.append(next(iter(book.open.values())).id)
    assert ids[0] == ids[1]


def test_exception_pattern_and_exclude_filter() -> None:
    obs, book = Observations(), Book()
    r = rule("task_failed", {"exception": "ValueError*"}, filter={"exclude": ["skip.*"]})
    run(obs, 1.0, "u1", "a", ok=False, exception="TypeError('x')")
    run(obs, 1.0, "u2", "b", ok=False, exception="ValueError('y')")
    run(obs, 1.0, "u3", "skip.me", ok=False, exception="ValueError('y')")
    assert step(book, r, obs, 2.0) == [("opened", "b", 0)]


def test_for_delays_opening_and_renotify_counts_reminders() -> None:
    obs, book = Observations(), Book()
    r = rule("task_failed", for_=10.0, renotify=60.0)
    run(obs, 100.0, "u1", "t", ok=False)
    assert step(book, r, obs, 105.0) == []
    assert step(book, r, obs, 110.0) == [("opened", "t", 0)]
    assert step(book, r, obs, 169.0) == []
    assert step(book, r, obs, 170.0) == [("reminder", "t", 1)]
    assert step(book, r, obs, 175.0) == []
    assert step(book, r, obs, 300.0) == [("reminder", "t", 3)]


def test_cooldown_holds_back_a_new_incident_after_a_resolution() -> None:
    obs, book = Observations(), Book()
    r = rule("task_failed", cooldown=30.0)
    run(obs, 1.0, "u1", "t", ok=False)
    step(book, r, obs, 2.0)
    run(obs, 3.0, "u2", "t", ok=True)
    assert step(book, r, obs, 4.0) == [("resolved", "t", 0)]
    run(obs, 5.0, "u3", "t", ok=False)
    assert step(book, r, obs, 20.0) == []
    assert step(book, r, obs, 34.0) == [("opened", "t", 0)]


def test_worker_offline_after_two_heartbeat_intervals_or_worker_offline() -> None:
    obs, book = Observations(), Book()
    r = rule("worker_offline", {"seconds": 5.0})
    obs.fold(APP, 100.0, {"type": "worker-heartbeat", "hostname": "w1", "freq": 2.0})
    obs.fold(APP, 100.0, {"type": "worker-heartbeat", "hostname": "w2", "freq": 2.0})
    obs.fold(APP, 101.0, {"type": "worker-offline", "hostname": "w2"})
    assert step(book, r, obs, 105.0) == []
    assert step(book, r, obs, 106.0) == [("opened", "w2", 0)]  # offline at 101, + 5 s
    assert step(book, r, obs, 109.0) == [("opened", "w1", 0)]  # silent since 100 + 2 x 2 s
    obs.fold(APP, 110.0, {"type": "worker-heartbeat", "hostname": "w1", "freq": 2.0})
    assert step(book, r, obs, 110.5) == [("resolved", "w1", 0)]


def test_cluster_silent() -> None:
    obs, book = Observations(), Book()
    r = rule("cluster_silent", {"seconds": 30.0})
    obs.fold(APP, 100.0, {"type": "worker-heartbeat", "hostname": "w1", "freq": 2.0})
    assert step(book, r, obs, 129.0) == []
    assert step(book, r, obs, 130.0) == [("opened", APP, 0)]
    obs.fold(APP, 131.0, {"type": "worker-heartbeat", "hostname": "w1", "freq": 2.0})
    assert step(book, r, obs, 131.5) == [("resolved", APP, 0)]


def test_failure_rate_needs_the_minimum_count_and_the_percentage() -> None:
    obs, book = Observations(), Book()
    r = rule("failure_rate", {"window": 60.0, "percent": 50.0, "min_count": 4})
    for i, ok in enumerate([False, False, True]):
        run(obs, 100.0 + i, f"u{i}", "t", ok=ok)
    assert step(book, r, obs, 110.0) == []  # 3 runs: under the minimum
    run(obs, 104.0, "u4", "t", ok=False)
    assert step(book, r, obs, 110.0) == [("opened", "t", 0)]  # 3 of 4 failed
    assert step(book, r, obs, 200.0) == [("resolved", "t", 0)]  # out of the window


def test_stalled_and_runtime() -> None:
    obs, book = Observations(), Book()
    stalled = rule("stalled", {"seconds": 10.0})
    slow = dataclasses.replace(rule("runtime", {"seconds": 2.0}), id="r2")
    task(obs, 100.0, "u1", "task-received", name="t")
    task(obs, 100.0, "u1", "task-started")
    assert step(book, stalled, obs, 109.0) == []
    assert step(book, stalled, obs, 110.0) == [("opened", "t", 0)]
    task(obs, 111.0, "u1", "task-succeeded", runtime=11.0)
    assert step(book, stalled, obs, 112.0) == [("resolved", "t", 0)]
    assert step(book, slow, obs, 112.0) == [("opened", "t", 0)]


def test_silences_cover_a_rule_a_key_or_both_until_their_end() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime(2030, 1, 1, tzinfo=UTC)
    later = now + timedelta(hours=1)
    assert silenced([{"org": "o", "rule": "r", "key": None, "until": later}], "o", "r", "k", now)
    assert silenced([{"org": "o", "rule": None, "key": "k", "until": later}], "o", "r", "k", now)
    assert not silenced(
        [{"org": "o", "rule": "x", "key": None, "until": later}], "o", "r", "k", now
    )
    assert not silenced(
        [{"org": "p", "rule": "r", "key": None, "until": later}], "o", "r", "k", now
    )
    assert not silenced([{"org": "o", "rule": "r", "key": None, "until": now}], "o", "r", "k", now)


def test_queue_length_holds_above_the_threshold_from_the_first_measurement_above_it() -> None:
    obs, book = Observations(), Book()
    r = rule("queue_length", {"threshold": 5}, filter={"queue": "orph*"}, for_=20.0)
    obs.measured(APP, 100.0, {"orphan": 6, "celery": 50})
    obs.measured(APP, 110.0, {"orphan": 3, "celery": 50})  # back under: the run starts again
    obs.measured(APP, 120.0, {"orphan": 8, "celery": 50})
    obs.measured(APP, 115.0, {"orphan": 99})  # late: older than what is known, dropped
    assert step(book, r, obs, 130.0) == []  # above for 10 s, not yet its 20 s
    obs.measured(APP, 140.0, {"orphan": 9})
    assert step(book, r, obs, 140.0) == [("opened", "orphan", 0)]
    (opened,) = book.open.values()
    assert opened.id == incident_id("r1", APP, "orphan", 120.0)
    obs.measured(APP, 150.0, {"orphan": 0})  # purged
    assert step(book, r, obs, 151.0) == [("resolved", "orphan", 0)]


def test_queue_measurements_are_no_sign_of_life_for_cluster_silent() -> None:
    obs = Observations()
    obs.measured(APP, 100.0, {"celery": 1})
    assert holding(rule("cluster_silent", {"seconds": 10}), obs.cluster(APP), APP, 500.0) == {}
    assert obs.cluster(APP).last_event == 0.0
