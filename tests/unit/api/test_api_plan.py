"""Filters, sorts, cursors and history conditions as MongoDB queries (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from tasktrail_api.domain import (
    cursor,
    filters,
    indexes,
    plan,
    serializers,
)
from tasktrail_api.domain.errors import BadRequest
from tasktrail_api.domain.scope import EVERYTHING
from tasktrail_shared.fields import SEED_LABELS
from tasktrail_shared.states import parse_status

NOW = datetime(2024, 1, 1, tzinfo=UTC)
LIVE = {"deleted": False}


def tq(params: dict[str, object], labels: dict[str, str] | None = None) -> plan.Query:
    return plan.task_query(filters.TaskFilters.model_validate(params), labels)


def test_no_filter_still_hides_deleted_tasks() -> None:
    given = filters.TaskFilters()
    assert plan.task_query(given) == LIVE
    assert (given.limit, given.offset, given.sort) == (100, 0, "-timestamp")


def test_every_equality_filter() -> None:
    params = {f: f"v-{f}" for f in filters.EQUAL_FILTERS}
    assert tq({**params, "status": "success"}) == {**params, "state": "SUCCESS", **LIVE}


def test_seed_labels_and_any_label() -> None:
    query = tq(
        {"cidr_id": "c1", "cidr_ip_network": "192.168.10.8/29", "asn_number": "99999"},
        {"zone": "eu"},
    )
    assert query == {
        "labels.cidr_id": "c1",
        "labels.cidr_ip_network": "192.168.10.8/29",
        "labels.asn_number": {"$in": [99999, "99999"]},
        "labels.zone": "eu",
        **LIVE,
    }


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("p", "PENDING"), ("r", "RECEIVED"), ("t", "STARTED"), ("s", "SUCCESS"), ("f", "FAILURE"),
     ("v", "REVOKED"), ("y", "RETRY"), ("j", "REJECTED"), ("S", "SUCCESS"), ("retry", "RETRY")],
)  # fmt: skip
def test_status_letters_are_aliases(raw: str, expected: str) -> None:
    assert parse_status(raw) == expected


def test_several_states_become_in() -> None:
    assert tq({"status": "Failure, y,failure"}) == {"state": {"$in": ["FAILURE", "RETRY"]}, **LIVE}


def test_published_is_the_sent_event() -> None:
    assert tq({"published": "true"})["sent"] == {"$gte": plan.MIN_TIME}
    assert tq({"published": "0"})["sent"] is None


def test_time_ranges_are_half_open() -> None:
    query = tq({"received_after": "2024-01-01T00:00:00Z", "received_before": "2024-01-02T00:00Z"})
    assert query["received"] == {"$gte": NOW, "$lt": datetime(2024, 1, 2, tzinfo=UTC)}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "DONE"}, "status"),
        ({"status": ","}, "status"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": -1}, "offset"),
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


def test_empty_params_mean_no_filter() -> None:
    assert tq({"status": "", "uuid": ""}) == LIVE


def test_operators_cannot_be_smuggled_in() -> None:
    assert tq({"uuid": '{"$ne": null}'}) == {"uuid": '{"$ne": null}', **LIVE}


def test_first_page_segments_put_missing_values_last_when_descending() -> None:
    sort = plan.Sort.parse("-received")
    valued, missing = plan.segments(LIVE, sort, None)
    assert valued.query == {"received": {"$gte": plan.MIN_TIME}, **LIVE}
    assert valued.sort == [("received", -1), ("_id", -1)]
    assert missing.query == {"received": None, **LIVE} and missing.sort == [("_id", -1)]


def test_ascending_pages_start_with_missing_values() -> None:
    sort = plan.Sort.parse("runtime")
    missing, valued = plan.segments(LIVE, sort, None)
    assert missing.query["runtime"] is None
    assert valued.query["runtime"] == {"$gte": float("-inf")}


def test_after_a_cursor_ties_come_first() -> None:
    sort = plan.Sort.parse("-timestamp")
    after = cursor.Cursor("-timestamp", NOW, "b")
    ties, beyond, missing = plan.segments({"state": "SUCCESS", **LIVE}, sort, after)
    assert ties.query == {"state": "SUCCESS", **LIVE, "timestamp": NOW, "_id": {"$lt": "b"}}
    assert beyond.query["timestamp"] == {"$lt": NOW}
    assert missing.query["timestamp"] is None
    ascending = plan.segments(LIVE, plan.Sort.parse("name"), cursor.Cursor("name", None, "b"))
    assert [s.query["name"] for s in ascending] == [None, {"$gte": ""}]
    assert ascending[0].query["_id"] == {"$gt": "b"}


def test_newest_first_time_reads_go_back_in_windows() -> None:
    sort = plan.Sort.parse("-timestamp")
    *windows, rest, missing = plan.segments(LIVE, sort, None, NOW)
    second = timedelta(seconds=1)
    assert windows[0].query["timestamp"] == {"$gte": NOW - second}  # and the future
    assert windows[1].query["timestamp"] == {"$gte": NOW - 2 * second, "$lt": NOW - second}
    assert len(windows) == len(plan.WINDOWS)
    assert rest.query["timestamp"] == {"$gte": plan.MIN_TIME, "$lt": NOW - 2**27 * second}
    assert all(w.sort == [("timestamp", -1), ("_id", -1)] for w in [*windows, rest])
    assert missing.query["timestamp"] is None
    after = cursor.Cursor("-timestamp", NOW - second, "b")
    ties, first, *_ = plan.segments(LIVE, sort, after, NOW)
    assert ties.query["timestamp"] == NOW - second
    assert first.query["timestamp"] == {"$gte": NOW - 2 * second, "$lt": NOW - second}
    assert len(plan.segments(LIVE, plan.Sort.parse("timestamp"), None, NOW)) == 2
    assert len(plan.segments(LIVE, plan.Sort.parse("-runtime"), None, NOW)) == 2
    # filters: windows only where one index serves the filter and the key's range
    one = {"state": "FAILURE", **LIVE}
    assert len(plan.segments(one, sort, None, NOW)) == len(plan.WINDOWS) + 2
    assert len(plan.segments(one, plan.Sort.parse("-received"), None, NOW)) == 2
    several = {"state": {"$in": ["FAILURE", "SUCCESS"]}, **LIVE}
    assert len(plan.segments(several, sort, None, NOW)) == 2


def test_ranges_on_the_sort_key_merge() -> None:
    base = tq({"timestamp_after": "2024-01-01T00:00:00Z"})
    after = cursor.Cursor("-timestamp", datetime(2025, 1, 1, tzinfo=UTC), "x")
    _, beyond, missing = plan.segments(base, plan.Sort.parse("-timestamp"), after)
    assert beyond.query["timestamp"] == {"$gte": NOW, "$lt": datetime(2025, 1, 1, tzinfo=UTC)}
    assert "$and" in missing.query  # an equality and a range: both kept


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


def test_every_filter_and_sort_has_an_index() -> None:
    leading = {spec["keys"][1][0] for spec in indexes.TASK_INDEXES.values()}
    wanted = {"state", "sent", *plan.SORT_KEYS, *filters.EQUAL_FILTERS}
    wanted |= {f"labels.{n}" for n in SEED_LABELS}
    assert wanted <= leading
    assert all(spec["keys"][0] == ("deleted", 1) for spec in indexes.TASK_INDEXES.values())


def test_a_page_by_offset_is_one_read_and_by_cursor_the_segments() -> None:
    by_offset = plan.task_page(
        filters.TaskFilters.model_validate({"offset": 20, "limit": 10}), {}, None, NOW, EVERYTHING
    )
    assert by_offset.segments == [plan.Segment(LIVE, [("timestamp", -1), ("_id", -1)])]
    assert (by_offset.skip, by_offset.limit, by_offset.count) == (20, 10, LIVE)
    first = plan.task_page(filters.TaskFilters(), {"zone": "eu"}, None, NOW, EVERYTHING)
    assert first.skip == 0 and len(first.segments) == len(plan.WINDOWS) + 2
    assert first.count == {"labels.zone": "eu", **LIVE}
    assert first.projection == plan.TASK_PROJECTION


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
