"""Seed 003's shapes, pure: the status words (Stalled included), the date format, a task's
keys, the grouping of AppTasks, the batch's parameters and TaskEvents' update token."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from tasktrail_api.domain import task_info
from tasktrail_api.domain.batch import (
    TaskEventsParams,
    TaskInfoParams,
    TaskStartParams,
    TaskStopParams,
    parse_params,
    project_scope,
)
from tasktrail_api.domain.errors import BadRequest, NotFound
from tasktrail_api.domain.history import START, LogPosition
from tasktrail_api.domain.scope import EVERYTHING, Scope
from tasktrail_api.domain.serializers import task as shown_task
from tasktrail_shared.catalog import entry_id

T0 = datetime(2020, 2, 7, 11, 7, 24, 131260, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "lost", "alive", "status"),
    [
        (None, False, None, "Scheduled"),
        ("PENDING", False, True, "Scheduled"),
        ("RETRY", False, True, "Scheduled"),
        ("RECEIVED", False, True, "Started"),
        ("STARTED", False, True, "Started"),
        ("STARTED", False, None, "Started"),  # a worker never heard of: nothing says it died
        ("STARTED", False, False, "Stalled"),  # its worker's heartbeat lapsed
        ("RECEIVED", False, False, "Stalled"),
        ("STARTED", True, True, "Stalled"),  # its worker restarted under it
        ("SUCCESS", False, False, "Stopped"),
        ("FAILURE", True, True, "Stopped"),
        ("REVOKED", False, True, "Stopped"),
        ("REJECTED", False, False, "Rejected"),
    ],
)
def test_seed_status(state: str | None, lost: bool, alive: bool | None, status: str) -> None:
    assert task_info.seed_status(state, lost=lost, worker_alive=alive) == status


def doc(task_id: str = "t1", **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "_id": task_id, "uuid": task_id, "state": "STARTED", "name": "demo.sleep",
        "args": "(30,)", "kwargs": "{}", "retries": 0, "queue": "celery", "worker": "w@h",
        "sent": T0, "received": T0.replace(second=25), "timestamp": T0.replace(second=26),
        "labels": {}, "children": [], "lost": False,
    }  # fmt: skip
    return shown_task({**base, **fields})


def test_a_task_in_the_seed_s_keys() -> None:
    item = task_info.item(
        doc(labels={"zone": "eu", "tier": 2, "service": "Channel1"}, parent_id="p1"), True
    )
    assert item == {
        "task_id": "t1",
        "app_id": "w@h",
        "uri": "/monitor/tasks/t1",
        "name": "demo.sleep",
        "status": "Started",
        "start": "2020-02-07 11:07:24 +0000",
        "start_f": T0.timestamp(),
        "service": "Channel1",
        "tags": "service=Channel1,tier=2,zone=eu",
        "profiles": {},
        "task_config": {
            "args": "(30,)",
            "kwargs": "{}",
            "eta": None,
            "expires": None,
            "retries": 0,
            "queue": "celery",
            "limits": {"soft": None, "hard": None},
        },
        "description": {"hasChildTasks": False, "parentTaskId": "p1"},
    }


def test_a_task_shows_the_profiles_of_its_cluster_and_name() -> None:
    profiles: dict[tuple[str, str], dict[str, list[Any]]] = {
        ("c1", "demo.sleep"): {"alarm": [79], "webhook": [265, "ops"]}
    }
    assert task_info.item(doc(app="c1"), True, profiles)["profiles"] == {
        "alarm": [79], "webhook": [265, "ops"],
    }  # fmt: skip
    assert task_info.item(doc(app="c2"), True, profiles)["profiles"] == {}


def test_start_falls_back_to_the_first_time_known_and_service_to_the_queue() -> None:
    item = task_info.item(doc(sent=None, received=None, started=None, queue="q"), None)
    assert item["start"] == "2020-02-07 11:07:26 +0000" and item["service"] == "q"
    bare = task_info.item(doc(sent=None, received=None, timestamp=None, queue=None), None)
    assert (bare["start"], bare["start_f"], bare["service"], bare["tags"]) == (None, None, None, "")


def test_a_parent_lists_its_children_and_ids_are_quoted_in_the_uri() -> None:
    item = task_info.item(doc("a/b c", children=["c1", "c2"]), True)
    assert item["description"] == {"hasChildTasks": True, "group": {"children": ["c1", "c2"]}}
    assert item["uri"] == "/monitor/tasks/a%2Fb%20c"


def test_app_tasks_groups_children_under_their_parent_each_once() -> None:
    items = [
        task_info.item(doc("p", children=["c1", "c2"]), True),
        task_info.item(doc("c1", parent_id="p"), True),
        task_info.item(doc("solo"), True),
        task_info.item(doc("c3", parent_id="elsewhere"), True),
        task_info.item(doc("c2", parent_id="p"), True),
    ]
    entry = task_info.worker_tasks("w@h", True, items)
    assert [t["task_id"] for t in entry["tasks"]] == ["p", "solo"]
    assert {p: [t["task_id"] for t in ts] for p, ts in entry["children"].items()} == {
        "p": ["c1", "c2"],
        "elsewhere": ["c3"],
    }
    assert (entry["app_id"], entry["online"]) == ("w@h", True)


def test_ids_may_be_integers_one_a_list_or_all() -> None:
    def ids(value: Any) -> list[str] | None:
        return parse_params(TaskInfoParams, {"project_id": 23, "task_ids": value}).ids()

    assert ids(238733) == ["238733"]
    assert ids([234590, "abc", 234590]) == ["234590", "abc"]
    assert ids("*") is None
    assert parse_params(TaskInfoParams, {"project_id": 23, "task_ids": 1}).project_id == "23"
    with pytest.raises(BadRequest, match=r"^params: name at least one id"):
        ids([])
    with pytest.raises(BadRequest, match=r"^params.task_ids"):
        ids(True)
    with pytest.raises(BadRequest, match=r"^params.project_id: Field required"):
        parse_params(TaskInfoParams, {"task_ids": "*"})
    with pytest.raises(BadRequest, match=r"^params.nope: Extra inputs"):
        parse_params(TaskInfoParams, {"project_id": "p", "task_ids": "*", "nope": 1})


def test_task_stop_never_means_all_and_task_start_names_a_catalog_entry() -> None:
    stop = parse_params(TaskStopParams, {"project_id": "p", "task_ids": "*", "signal": 9})
    assert stop.revoke_arguments() == {"ids": ["*"], "terminate": False, "signal": "SIGKILL"}
    start = parse_params(TaskStartParams, {"project_id": 23, "name": "demo.add", "args": [1]})
    assert (start.entry(), start.args) == (entry_id("23", "demo.add"), [1])
    with pytest.raises(BadRequest, match=r"^params.eta: Extra inputs"):
        parse_params(TaskStartParams, {"project_id": "p", "name": "x", "eta": "2030-01-01"})
    with pytest.raises(BadRequest, match=r"^params.limit_value: Input should be less"):
        parse_params(TaskEventsParams, {"project_id": "p", "task_id": "t", "limit_value": 101})


def test_a_project_outside_the_scope_is_not_found_like_one_that_does_not_exist() -> None:
    acme = Scope.of("acme", ["a1"])
    assert project_scope(acme, "a1") == Scope.of("acme", ["a1"])
    assert project_scope(EVERYTHING, "any").condition() == {"app": {"$in": ["any"]}}
    with pytest.raises(NotFound) as other:
        project_scope(acme, "b1")
    with pytest.raises(NotFound) as nobody:
        project_scope(acme, "nobody-has-this")
    assert other.value.message == nobody.value.message == "project not found"


def test_update_tokens_are_log_positions() -> None:
    position = LogPosition(1234, 5)
    assert LogPosition.parse(position.token) == position
    assert START < LogPosition(1, 0) < LogPosition(1, 1) < LogPosition(2, 0)
    for bad in ("", "1", "1.2.3", "-1.0", "x.1", "1.-1"):
        with pytest.raises(ValueError, match="not an update token"):
            LogPosition.parse(bad)
