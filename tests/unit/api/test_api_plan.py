"""Filter parameters, and the worker and sync queries (pure); task lists: test_api_shapes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError
from tasktrail_api.domain import (
    filters,
    plan,
    serializers,
)
from tasktrail_api.domain.errors import BadRequest
from tasktrail_api.domain.scope import EVERYTHING
from tasktrail_shared.states import parse_status

NOW = datetime(2024, 1, 1, tzinfo=UTC)
LIVE = {"deleted": False}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("p", "PENDING"), ("r", "RECEIVED"), ("t", "STARTED"), ("s", "SUCCESS"), ("f", "FAILURE"),
     ("v", "REVOKED"), ("y", "RETRY"), ("j", "REJECTED"), ("S", "SUCCESS"), ("retry", "RETRY")],
)  # fmt: skip
def test_status_letters_are_aliases(raw: str, expected: str) -> None:
    assert parse_status(raw) == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "DONE"}, "status"),
        ({"status": ","}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": 10_001}, "offset"),
        ({"name": "x" * 256}, "name"),
        ({"sort": "uuid"}, "sort"),
        ({"received_after": "2024-01-01T00:00:00"}, "received_after"),
        ({"started_before": "0001-01-01T00:00:00Z"}, "started_before"),
        ({"published": "maybe"}, "published"),
    ],
)
def test_bad_task_params_name_the_field(params: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        filters.TaskFilters.model_validate(params)
    assert info.value.errors()[0]["loc"] == (field,)


def test_label_params() -> None:
    assert filters.label_filters({"label.zone": "eu", "label.x": " ", "status": "s"}) == {
        "zone": "eu"
    }
    with pytest.raises(BadRequest, match=r"label\.1x"):
        filters.label_filters({"label.1x": "a"})


@pytest.mark.parametrize(
    ("raw", "online"), [("1", True), ("true", True), ("0", False), ("false", False)]
)
def test_worker_status_accepts_numbers_and_words(raw: str, online: bool) -> None:
    given = filters.WorkerFilters.model_validate({"status": raw, "name": "celery@a"})
    query = plan.worker_query(given, NOW)
    assert query["hostname"] == "celery@a" and query["deleted"] is False
    if online:
        assert query["alive_until"] == {"$gt": NOW}
    else:
        assert query["$or"] == [{"alive_until": {"$lte": NOW}}, {"alive_until": None}]


def test_a_worker_is_found_by_id_or_hostname() -> None:
    assert plan.worker_by_id("x") == {"$or": [{"id": "x"}, {"_id": "x"}]}


def test_sync_looks_up_unfinished_tasks() -> None:
    assert set(plan.unfinished_tasks(EVERYTHING)["state"]["$in"]) == {
        "PENDING", "RECEIVED", "STARTED", "RETRY", "REJECTED"
    }  # fmt: skip


def test_projections_load_only_what_the_serializers_read() -> None:
    assert set(plan.TASK_PROJECTION) == set(serializers.TASK_READ_FIELDS)
    assert not [f for f in plan.TASK_PROJECTION if f.startswith("_")]
    assert "alive_until" in plan.WORKER_PROJECTION


@pytest.mark.parametrize(
    "moment", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00", "1969-12-31T23:00:00Z"]
)
def test_times_outside_the_years_are_refused_not_crashed_on(moment: str) -> None:
    with pytest.raises(ValidationError) as info:
        filters.TaskFilters.model_validate({"received_after": moment})
    assert info.value.errors()[0]["loc"] == ("received_after",)


@pytest.mark.parametrize(("raw", "flag"), [(None, False), ("", True), ("TRUE", True), ("0", False)])
def test_a_flag_is_true_when_bare(raw: str | None, flag: bool) -> None:
    assert filters.parse_flag(raw, "sync") is flag


def test_a_bad_flag_names_its_parameter() -> None:
    with pytest.raises(BadRequest, match=r"^sync: "):
        filters.parse_flag("perhaps", "sync")
