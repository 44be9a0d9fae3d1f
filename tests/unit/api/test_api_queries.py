"""Filters, sorts, cursors and history conditions as MongoDB queries (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from tasktrail_api import queries, serializers

NOW = datetime(2024, 1, 1, tzinfo=UTC)
LIVE = {"deleted": False}


def tq(params: dict[str, object], labels: dict[str, str] | None = None) -> queries.Query:
    return queries.task_query(queries.TaskFilters.model_validate(params), labels)


def test_no_filter_still_hides_deleted_tasks() -> None:
    filters = queries.TaskFilters()
    assert queries.task_query(filters) == LIVE
    assert (filters.limit, filters.offset, filters.sort) == (100, 0, "-timestamp")


def test_every_equality_filter() -> None:
    params = {f: f"v-{f}" for f in queries.EQUAL_FILTERS}
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
    assert queries.parse_status(raw) == expected


def test_several_states_become_in() -> None:
    assert tq({"status": "Failure, y,failure"}) == {"state": {"$in": ["FAILURE", "RETRY"]}, **LIVE}


def test_published_is_the_sent_event() -> None:
    assert tq({"published": "true"})["sent"] == {"$gte": queries.MIN_TIME}
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
        queries.TaskFilters.model_validate(params)
    assert info.value.errors()[0]["loc"] == (field,)


def test_label_params() -> None:
    assert queries.label_filters({"label.zone": "eu", "label.x": " ", "status": "s"}) == {
        "zone": "eu"
    }
    with pytest.raises(ValueError, match=r"label\.1x"):
        queries.label_filters({"label.1x": "a"})


def test_empty_params_mean_no_filter() -> None:
    assert tq({"status": "", "uuid": ""}) == LIVE


def test_operators_cannot_be_smuggled_in() -> None:
    assert tq({"uuid": '{"$ne": null}'}) == {"uuid": '{"$ne": null}', **LIVE}


@pytest.mark.parametrize(
    "value",
    [None, NOW, datetime(2024, 1, 1, 12, 0, 0, 123000, tzinfo=UTC), 1.25, 7, "celery.x", 'a"b'],
)
def test_a_cursor_round_trips(value: object) -> None:
    cursor = queries.Cursor("-received", value, "id-1")
    assert queries.decode_cursor(queries.encode_cursor(cursor), "-received") == cursor


@pytest.mark.parametrize("token", ["", "nope", "e30", "W10", "eyJzIjoxfQ"])
def test_foreign_cursors_are_refused(token: str) -> None:
    with pytest.raises(queries.BadCursor):
        queries.decode_cursor(token, "-timestamp")


def test_a_cursor_belongs_to_its_sort() -> None:
    token = queries.encode_cursor(queries.Cursor("name", "a", "1"))
    with pytest.raises(queries.BadCursor, match="sort='name'"):
        queries.decode_cursor(token, "-name")


def test_first_page_segments_put_missing_values_last_when_descending() -> None:
    sort = queries.Sort.parse("-received")
    valued, missing = queries.segments(LIVE, sort, None)
    assert valued.query == {"received": {"$gte": queries.MIN_TIME}, **LIVE}
    assert valued.sort == [("received", -1), ("_id", -1)]
    assert missing.query == {"received": None, **LIVE} and missing.sort == [("_id", -1)]


def test_ascending_pages_start_with_missing_values() -> None:
    sort = queries.Sort.parse("runtime")
    missing, valued = queries.segments(LIVE, sort, None)
    assert missing.query["runtime"] is None
    assert valued.query["runtime"] == {"$gte": float("-inf")}


def test_after_a_cursor_ties_come_first() -> None:
    sort = queries.Sort.parse("-timestamp")
    cursor = queries.Cursor("-timestamp", NOW, "b")
    ties, beyond, missing = queries.segments({"state": "SUCCESS", **LIVE}, sort, cursor)
    assert ties.query == {"state": "SUCCESS", **LIVE, "timestamp": NOW, "_id": {"$lt": "b"}}
    assert beyond.query["timestamp"] == {"$lt": NOW}
    assert missing.query["timestamp"] is None
    ascending = queries.segments(
        LIVE, queries.Sort.parse("name"), queries.Cursor("name", None, "b")
    )
    assert [s.query["name"] for s in ascending] == [None, {"$gte": ""}]
    assert ascending[0].query["_id"] == {"$gt": "b"}


def test_newest_first_time_reads_go_back_in_windows() -> None:
    sort = queries.Sort.parse("-timestamp")
    *windows, rest, missing = queries.segments(LIVE, sort, None, NOW)
    second = timedelta(seconds=1)
    assert windows[0].query["timestamp"] == {"$gte": NOW - second}  # and the future
    assert windows[1].query["timestamp"] == {"$gte": NOW - 2 * second, "$lt": NOW - second}
    assert len(windows) == len(queries.WINDOWS)
    assert rest.query["timestamp"] == {"$gte": queries.MIN_TIME, "$lt": NOW - 2**27 * second}
    assert all(w.sort == [("timestamp", -1), ("_id", -1)] for w in [*windows, rest])
    assert missing.query["timestamp"] is None
    cursor = queries.Cursor("-timestamp", NOW - second, "b")
    ties, first, *_ = queries.segments(LIVE, sort, cursor, NOW)
    assert ties.query["timestamp"] == NOW - second
    assert first.query["timestamp"] == {"$gte": NOW - 2 * second, "$lt": NOW - second}
    assert len(queries.segments(LIVE, queries.Sort.parse("timestamp"), None, NOW)) == 2
    assert len(queries.segments(LIVE, queries.Sort.parse("-runtime"), None, NOW)) == 2
    # filters: windows only where one index serves the filter and the key's range
    one = {"state": "FAILURE", **LIVE}
    assert len(queries.segments(one, sort, None, NOW)) == len(queries.WINDOWS) + 2
    assert len(queries.segments(one, queries.Sort.parse("-received"), None, NOW)) == 2
    several = {"state": {"$in": ["FAILURE", "SUCCESS"]}, **LIVE}
    assert len(queries.segments(several, sort, None, NOW)) == 2


def test_ranges_on_the_sort_key_merge() -> None:
    base = tq({"timestamp_after": "2024-01-01T00:00:00Z"})
    cursor = queries.Cursor("-timestamp", datetime(2025, 1, 1, tzinfo=UTC), "x")
    _, beyond, missing = queries.segments(base, queries.Sort.parse("-timestamp"), cursor)
    assert beyond.query["timestamp"] == {"$gte": NOW, "$lt": datetime(2025, 1, 1, tzinfo=UTC)}
    assert "$and" in missing.query  # an equality and a range: both kept


@pytest.mark.parametrize(
    ("raw", "online"), [("1", True), ("true", True), ("0", False), ("false", False)]
)
def test_worker_status_accepts_numbers_and_words(raw: str, online: bool) -> None:
    filters = queries.WorkerFilters.model_validate({"status": raw, "name": "celery@a"})
    query = queries.worker_query(filters, NOW)
    assert query["hostname"] == "celery@a" and query["deleted"] is False
    if online:
        assert query["alive_until"] == {"$gt": NOW}
    else:
        assert query["$or"] == [{"alive_until": {"$lte": NOW}}, {"alive_until": None}]


def test_a_worker_is_found_by_id_or_hostname() -> None:
    assert queries.worker_by_id("x") == {"$or": [{"id": "x"}, {"_id": "x"}]}


def test_sync_looks_up_unfinished_tasks() -> None:
    assert set(queries.unfinished_tasks()["state"]["$in"]) == {
        "PENDING", "RECEIVED", "STARTED", "RETRY", "REJECTED"
    }  # fmt: skip


def test_history_conditions() -> None:
    filters = queries.EventFilters.model_validate(
        {"type": "tasktrail.command.*", "actor": "oncall", "before": "2024-01-01T00:00:00Z"}
    )
    message, entry = queries.event_queries(filters, uuid="t1")
    assert message == {
        "uuids": "t1",
        "events.type": {"$gte": "tasktrail.command.", "$lt": "tasktrail.command.\U0010ffff"},
        "events.event.actor": "oncall",
        "timestamp": {"$lt": NOW},
    }
    assert entry["events.uuid"] == "t1" and entry["events.timestamp"] == {"$lt": NOW}
    hit = {
        "uuid": "t1",
        "type": "tasktrail.command.completed",
        "timestamp": datetime(2023, 1, 1, tzinfo=UTC),
        "event": {"actor": "oncall"},
    }
    assert queries.entry_matches(hit, entry)
    assert not queries.entry_matches({**hit, "type": "task-sent"}, entry)
    assert not queries.entry_matches({**hit, "event": {}}, entry)
    assert not queries.entry_matches({**hit, "timestamp": NOW}, entry)


def test_projections_load_only_what_the_serializers_read() -> None:
    assert set(queries.TASK_PROJECTION) == set(serializers.TASK_FIELDS)
    assert not [f for f in queries.TASK_PROJECTION if f.startswith("_")]
    assert "alive_until" in queries.WORKER_PROJECTION


def test_every_filter_and_sort_has_an_index() -> None:
    leading = {spec["keys"][1][0] for spec in queries.TASK_INDEXES.values()}
    wanted = {"state", "sent", *queries.SORT_KEYS, *queries.EQUAL_FILTERS}
    wanted |= {f"labels.{n}" for n in queries.LABEL_FILTERS}
    assert wanted <= leading
    assert all(spec["keys"][0] == ("deleted", 1) for spec in queries.TASK_INDEXES.values())
