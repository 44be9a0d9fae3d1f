"""List shapes: which requests are served and how, the reads each makes, and the index each
read walks (pure). The same shapes against a real server: test_api_lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tasktrail_api.domain import cursor, indexes, plan, shapes, totals
from tasktrail_api.domain.errors import BadRequest
from tasktrail_api.domain.filters import TaskFilters
from tasktrail_shared import counts
from tasktrail_shared.fields import SEED_LABELS, label_index
from tasktrail_shared.states import ALL_STATES

NOW = datetime(2024, 1, 1, tzinfo=UTC)
APPS = ("a", "b")
SECOND = timedelta(seconds=1)


def select(params: dict[str, Any], labels: dict[str, str] | None = None) -> shapes.Selection:
    return shapes.select(TaskFilters.model_validate(params), labels or {}, APPS, {*SEED_LABELS})


def page(params: dict[str, Any], **kw: Any) -> plan.ReadPlan:
    given = TaskFilters.model_validate(params)
    return plan.task_page(given, {}, kw.pop("after", None), NOW, APPS, **kw)


# --- which shapes, read how ---------------------------------------------------------------


def test_no_filter_reads_every_cluster() -> None:
    chosen = select({})
    assert (chosen.apps, chosen.states, chosen.primary, chosen.narrow) == (APPS, None, None, None)
    assert plan.branches(chosen) == [
        {"deleted": False, "app": app, "state": state} for app in APPS for state in ALL_STATES
    ]
    assert select({"app": "b"}).apps == ("b",) and select({"app": "z"}).apps == ()


def test_a_list_without_status_is_read_state_by_state_where_its_index_has_state() -> None:
    """No index holds a time, or name, worker or queue, without ``state`` after them: every
    state is one part. The other filters have an index of their own and are one part."""
    for params in ({}, {"name": "x"}, {"worker": "w"}, {"queue": "q"}):
        parts = plan.branches(select({**params, "app": "a"}))
        assert [q["state"] for q in parts] == list(ALL_STATES), params
    for params in ({"parent_id": "p"}, {"root_id": "r"}, {"published": "1"}, {"cidr_id": "c"}):
        parts = plan.branches(select({**params, "app": "a"}))
        assert len(parts) == 1 and "state" not in parts[0], params
    assert plan.branches(select({"uuid": "u", "app": "a"})) == [{"deleted": False, "uuid": "u"}]


def test_each_equality_filter_is_the_walks_one_filter() -> None:
    for name in ("name", "worker", "queue", "parent_id", "root_id"):
        assert select({name: "v"}).primary == (name, ("v",))
    assert select({"published": "true"}).primary == ("published", (True,))
    assert select({"cidr_id": "c1"}).primary == ("labels.cidr_id", ("c1",))
    assert select({"asn_number": "64500"}).primary == ("labels.asn_number", (64500, "64500"))


def test_statuses_and_values_become_branches() -> None:
    chosen = select({"status": "f,s", "name": "x", "app": "a"})
    assert plan.branches(chosen) == [
        {"deleted": False, "app": "a", "name": "x", "state": "FAILURE"},
        {"deleted": False, "app": "a", "name": "x", "state": "SUCCESS"},
    ]
    numbers = plan.branches(select({"asn_number": "7", "app": "a"}))
    assert [q["labels.asn_number"] for q in numbers] == [7, "7"]


def test_operators_cannot_be_smuggled_in() -> None:
    chosen = select({"name": '{"$ne": null}'})
    assert plan.branches(chosen)[0]["name"] == '{"$ne": null}'


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"name": "x", "worker": "w"}, "one filter besides status at most (name, worker given)"),
        ({"cidr_id": "c", "status": "f"}, "labels.cidr_id with status"),
        ({"published": "1", "status": "f"}, "published with status"),
        ({"worker": "w", "sort": "-received"}, "worker is read by timestamp"),
        (
            {"received_after": "2024-01-01T00:00:00Z"},
            "a time range on received with sort=timestamp",
        ),
        ({"sort": "-runtime"}, "sort=runtime needs a time range"),
        ({"q": "boom"}, "q (free text) needs a time range"),
        ({"q": "boom", "name": "x", "worker": "w"}, "one filter besides status at most"),
        (
            {"sort": "name", "name": "x", "received_after": "2024-01-01T00:00:00Z"},
            "name is read by",
        ),
        (
            {"received_after": "2024-01-01T00:00:00Z", "started_before": "2024-01-01T00:00:00Z"},
            "one time range at most (received, started given)",
        ),
    ],
)
def test_shapes_no_index_serves_are_refused_saying_what_is(
    params: dict[str, Any], words: str
) -> None:
    with pytest.raises(BadRequest) as info:
        select(params)
    assert words in str(info.value)
    assert str(info.value).startswith("unsupported list shape: ")
    assert shapes.SERVED in str(info.value)


def test_a_label_without_an_index_is_refused() -> None:
    with pytest.raises(BadRequest, match=r"label\.zone has no index"):
        select({}, {"zone": "eu"})
    indexed = shapes.select(TaskFilters(), {"zone": "eu"}, APPS, {"zone"})
    assert indexed.primary == ("labels.zone", ("eu",))


def test_uuid_and_workflows_fall_back_to_narrow_sets() -> None:
    one = select({"uuid": "u1", "status": "f", "sort": "-runtime", "name": "x"})
    assert (one.narrow, one.others) == (("uuid", "u1"), (("name", ("x",)),))
    assert plan.branches(one) == [{"deleted": False, "uuid": "u1"}]
    flow = select({"root_id": "r", "status": "f", "sort": "-received", "worker": "w"})
    assert flow.narrow == ("root_id", "r") and flow.others == (("worker", ("w",)),)
    assert plan.branches(flow)[0] == {"deleted": False, "app": "a", "root_id": "r"}
    assert select({"root_id": "r"}).narrow is None  # a walk serves it


def test_value_sorts_are_window_sets_over_their_time_range() -> None:
    chosen = select({"sort": "-runtime", "name": "x", "timestamp_after": "2024-01-01T00:00:00Z"})
    assert chosen.is_window_set and chosen.walk_key == "timestamp"
    status = select({"sort": "name", "status": "f", "started_after": "2024-01-01T00:00:00Z"})
    assert status.walk_key == "started"


# --- the reads: windows, ties, missing values ---------------------------------------------


def test_newest_first_goes_back_in_windows_then_the_missing() -> None:
    steps = page({"app": "a"}).steps
    *windows, rest, missing = steps
    assert len(windows) == len(plan.spans(SECOND)) == 28
    assert windows[0].segments[0].query == {
        "deleted": False,
        "app": "a",
        "state": ALL_STATES[0],
        "timestamp": {"$gte": NOW - SECOND},
    }
    assert windows[1].segments[0].query["timestamp"] == {
        "$gte": NOW - 2 * SECOND,
        "$lt": NOW - SECOND,
    }
    assert rest.segments[0].query["timestamp"] == {
        "$gte": plan.MIN_TIME,
        "$lt": NOW - 2**27 * SECOND,
    }
    assert all(w.sort == [("timestamp", -1), ("_id", -1)] for w in [*windows, rest])
    assert missing.segments[0].query["timestamp"] is None and missing.sort == [("_id", -1)]
    assert len(page({}).steps[0].segments) == 2 * len(ALL_STATES)  # per cluster and state


def test_newest_first_starts_at_the_newest_counted_value_and_stays_open_above() -> None:
    """A quiet spell before now costs nothing; tasks newer than the counters know are read
    with the first window."""
    newest = NOW - timedelta(days=2)
    cell = counts.Cell(5, (None,) * 4, (newest, None, None, None))
    steps = page({"app": "a"}, totals={"a": {(counts.ALL, counts.ALL, "SUCCESS"): cell}}).steps
    assert steps[0].segments[0].query["timestamp"] == {"$gte": newest - SECOND}
    assert steps[1].segments[0].query["timestamp"] == {
        "$gte": newest - 2 * SECOND,
        "$lt": newest - SECOND,
    }
    unknown = page(
        {"app": "a", "sort": "-received"}, totals={"a": {(counts.ALL, counts.ALL, "SUCCESS"): cell}}
    )
    assert unknown.steps[0].segments[0].query["received"] == {"$gte": NOW - SECOND}


def test_the_first_window_holds_about_a_page_at_the_counted_rate() -> None:
    newest, oldest = NOW, NOW - timedelta(seconds=100)
    busy = counts.Cell(100_000, (oldest,) * 4, (newest,) * 4)  # 1000 a second
    steps = page({"app": "a"}, totals={"a": {(counts.ALL, counts.ALL, "SUCCESS"): busy}}).steps
    assert steps[0].segments[0].query["timestamp"] == {"$gte": newest - SECOND / 10}
    assert steps[1].segments[0].query["timestamp"] == {
        "$gte": newest - SECOND / 5,
        "$lt": newest - SECOND / 10,
    }
    chosen = select({"app": "a"})
    quiet = {
        "a": {(counts.ALL, counts.ALL, "SUCCESS"): counts.Cell(50, (oldest,) * 4, (newest,) * 4)}
    }
    assert totals.reach(chosen, quiet, "timestamp", -1, 100) == totals.Reach(newest, SECOND, oldest)
    assert totals.reach(chosen, {}, "timestamp", -1, 100) == totals.Reach()


def test_after_a_cursor_the_ties_come_first() -> None:
    at = NOW - 5 * SECOND
    steps = page({"status": "s", "app": "a"}, after=cursor.Cursor("-timestamp", at, "b")).steps
    ties, first, *_ = steps
    assert ties.segments[0].query == {
        "deleted": False, "app": "a", "state": "SUCCESS", "timestamp": at, "_id": {"$lt": "b"}
    }  # fmt: skip
    assert first.segments[0].query["timestamp"] == {"$gte": at - SECOND, "$lt": at}
    tail = page({"app": "a"}, after=cursor.Cursor("-timestamp", None, "b")).steps
    assert len(tail) == 1 and tail[0].segments[0].query["timestamp"] is None


def test_a_time_range_bounds_the_windows_and_drops_the_missing() -> None:
    after, before = NOW - 3 * SECOND, NOW - SECOND
    params = {
        "app": "a",
        "timestamp_after": after.isoformat(),
        "timestamp_before": before.isoformat(),
    }
    conds = [s.segments[0].query["timestamp"] for s in page(params).steps]
    assert conds == [
        {"$gte": before - SECOND, "$lt": before},
        {"$gte": after, "$lt": before - SECOND},
    ]


def test_oldest_first_starts_with_the_missing_then_goes_forward_from_the_oldest() -> None:
    home = NOW - timedelta(days=3)
    oldest = (home,) * len(counts.TIMES)
    tally = {(counts.ALL, counts.ALL, "SUCCESS"): counts.Cell(2, oldest, oldest)}
    missing, early, first, second, *_ = page(
        {"sort": "received", "app": "a"}, totals={"a": tally}
    ).steps
    assert missing.segments[0].query["received"] is None and missing.sort == [("_id", 1)]
    assert early.segments[0].query["received"] == {"$gte": plan.MIN_TIME, "$lt": home}
    assert first.segments[0].query["received"] == {"$gte": home, "$lt": home + SECOND}
    assert second.segments[0].query["received"] == {"$gte": home + SECOND}  # past the newest
    mark = cursor.Cursor("received", home, "x")
    ties, beyond, *_ = page({"sort": "received", "app": "a"}, after=mark).steps
    assert ties.segments[0].query["_id"] == {"$gt": "x"}
    assert beyond.segments[0].query["received"] == {"$gt": home, "$lt": home + SECOND}


def test_windows_stop_at_the_edges_of_time() -> None:
    assert plan.windows_back(plan.MIN_TIME + SECOND / 2, None, None) == [{"$gte": plan.MIN_TIME}]
    last = datetime.max.replace(tzinfo=UTC) - SECOND
    assert plan.windows_forward(last, True, None) == [
        {"$gte": last, "$lt": last + SECOND},
        {"$gte": last + SECOND},
    ]


def test_windows_stop_doubling_past_the_farthest_value_the_counters_know() -> None:
    """Past the oldest (newest first) or newest (oldest first) counted value, one read takes
    the rest: what the counters have not counted yet is still read, but a short list does
    not probe every empty window back to the limit."""
    home = NOW - 10 * SECOND
    oldest = home - 3 * SECOND
    assert plan.windows_back(home, None, None, SECOND, oldest) == [
        {"$gte": home - SECOND},
        {"$gte": home - 2 * SECOND, "$lt": home - SECOND},
        {"$gte": home - 4 * SECOND, "$lt": home - 2 * SECOND},
        {"$gte": plan.MIN_TIME, "$lt": home - 4 * SECOND},
    ]
    assert len(plan.windows_back(home, None, None, SECOND)) > 25  # unbounded: to ~4 years
    newest = home + 3 * SECOND
    assert plan.windows_forward(home, True, None, SECOND, newest) == [
        {"$gte": home, "$lt": home + SECOND},
        {"$gte": home + SECOND, "$lt": home + 2 * SECOND},
        {"$gte": home + 2 * SECOND, "$lt": home + 4 * SECOND},
        {"$gte": home + 4 * SECOND},
    ]
    tally = {
        (counts.ALL, counts.ALL, "SUCCESS"): counts.Cell(2, (oldest,) * 4, (home,) * 4),
        counts.UNKNOWN: counts.Cell(1),  # no label counters: the label list is counted
    }
    steps = page({"cidr_id": "c", "app": "a"}, totals={"a": tally}).count
    assert [s.segments[0].query["timestamp"] for s in steps[:-1]] == plan.windows_back(
        home, None, None, totals.reach(select({"cidr_id": "c", "app": "a"}), {"a": tally},
                                       "timestamp", -1, shapes.COUNT_BOUND).first, oldest
    )  # fmt: skip
    assert len(steps) < 10


def test_lists_the_counters_cover_are_totalled_without_a_read() -> None:
    tally = {
        (counts.ALL, counts.ALL, "FAILURE"): counts.Cell(4),
        (counts.ALL, counts.ALL, "SUCCESS"): counts.Cell(6),
        ("worker", "w", "FAILURE"): counts.Cell(3),
    }
    everything = {"a": tally, "b": tally}
    assert page({}, totals=everything).total == 20
    assert page({"status": "f", "app": "b"}, totals=everything).total == 4
    assert page({"status": "f", "worker": "w"}, totals=everything).total == 6
    # a label's values are counted in every state together (decision 26)
    label = {(f"{counts.LABEL}cidr_id", "sc", counts.ALL): counts.Cell(5),
             (f"{counts.LABEL}asn_number", "n7", counts.ALL): counts.Cell(2),
             (f"{counts.LABEL}asn_number", "s7", counts.ALL): counts.Cell(1)}  # fmt: skip
    labelled = {app: {**tally, **label} for app in everything}
    assert page({"cidr_id": "c"}, totals=labelled).total == 10
    assert page({"cidr_id": "c", "app": "a"}, totals=labelled).total == 5
    assert page({"cidr_id": "other"}, totals=labelled).total == 0
    assert page({"asn_number": "7"}, totals=labelled).total == 6  # the number and the text
    over = {**labelled, "b": {**tally, (f"{counts.LABEL}cidr_id", counts.OVER, counts.ALL):
                              counts.Cell(1)}}  # fmt: skip
    assert page({"cidr_id": "c", "app": "a"}, totals=over).total == 5
    assert page({"cidr_id": "c"}, totals=over).total is None  # too many values in b
    assert page({"cidr_id": "c", "timestamp_after": NOW.isoformat()}, totals=labelled).total is None
    everything = {app: {**t, counts.UNKNOWN: counts.Cell(1)} for app, t in labelled.items()}
    counted = page({"cidr_id": "c"}, totals=everything)
    assert counted.total is None and counted.count == plan.walk(
        plan.branches(select({"cidr_id": "c"})), shapes.Order("timestamp", -1), "timestamp",
        None, NOW, None,
    )  # fmt: skip
    assert page({"timestamp_after": NOW.isoformat()}, totals=everything).total is None
    assert totals.state_counts(everything, ["a"]) == {"FAILURE": 4, "SUCCESS": 6}


def test_a_label_list_starts_at_its_newest_counted_task_at_its_own_rate() -> None:
    newest, oldest = NOW - 60 * SECOND, NOW - 160 * SECOND
    tally = {
        (counts.ALL, counts.ALL, "SUCCESS"): counts.Cell(9000, (oldest,) * 4, (NOW,) * 4),
        (f"{counts.LABEL}cidr_id", "sc", counts.ALL): counts.Cell(
            1000, (oldest, None, None, None), (newest, None, None, None)
        ),
    }
    chosen = select({"cidr_id": "c", "app": "a"})
    assert totals.reach(chosen, {"a": tally}, "timestamp", -1, 5) == totals.Reach(
        newest, timedelta(milliseconds=500), oldest
    )


def test_sets_are_read_whole_and_finished_here() -> None:
    window = page({"sort": "-runtime", "timestamp_after": (NOW - SECOND).isoformat()})
    assert window.cap == shapes.SET_CAP and window.selection is not None
    assert all(len(s.segments) == 2 * len(ALL_STATES) for s in window.steps)
    rows: list[dict[str, Any]] = [
        {"_id": "a", "app": "a", "state": "SUCCESS", "runtime": 2.0, "timestamp": NOW},
        {"_id": "b", "app": "a", "state": "SUCCESS", "runtime": None, "timestamp": NOW},
        {"_id": "c", "app": "b", "state": "FAILURE", "runtime": 5, "timestamp": NOW},
        {"_id": "d", "app": "b", "state": "SUCCESS", "runtime": 2.0, "timestamp": NOW},
    ]
    shown, count = plan.finish_set(rows, window.selection, None, 2, 0)
    assert ([r["_id"] for r in shown], count) == (["c", "d"], 4)
    after = cursor.Cursor("-runtime", 2.0, "d")
    shown, _ = plan.finish_set(rows, window.selection, after, 5, 0)
    assert [r["_id"] for r in shown] == ["a", "b"]
    flow = select({"root_id": "r", "status": "s", "sort": "runtime", "app": "a"})
    shown, count = plan.finish_set([{**r, "root_id": "r"} for r in rows], flow, None, 9, 0)
    assert ([r["_id"] for r in shown], count) == (["b", "a"], 2)


def test_a_set_its_time_range_holds_at_the_counted_rate_is_read_in_one_window() -> None:
    """A set is read whole up to its cap, so its first window is as long as a quarter of
    the cap at the average rate, not capped at a second as a page's is."""
    newest, oldest = NOW, NOW - timedelta(seconds=1000)
    tally = {(counts.ALL, counts.ALL, "SUCCESS"): counts.Cell(10_000, (oldest,) * 4, (newest,) * 4)}
    since = (NOW - 10 * SECOND).isoformat()
    window = page({"sort": "-runtime", "timestamp_after": since, "app": "a"}, totals={"a": tally})
    # 10 a second: a quarter of the cap is 250 s, more than the 10 s asked for
    assert [s.segments[0].query["timestamp"] for s in window.steps] == [{"$gte": NOW - 10 * SECOND}]
    listed = page({"timestamp_after": since, "app": "a"}, totals={"a": tally})
    assert len(listed.steps) > 1  # a page still starts with a window of at most a second
    busy = {"a": {key: counts.Cell(10**8, c.low, c.high) for key, c in tally.items()}}
    burst = page({"sort": "-runtime", "timestamp_after": since, "app": "a"}, totals=busy)
    assert len(burst.steps) > 1  # 100,000 a second: the cap is reached in windows


def test_free_text_is_found_within_a_window_set() -> None:
    since = (NOW - SECOND).isoformat()
    search = page({"q": "BoOm", "status": "f,s", "timestamp_after": since})
    assert search.cap == shapes.SET_CAP and search.selection is not None
    assert search.selection.is_window_set and search.selection.text == "boom"
    assert search.selection.walk_key == "timestamp"
    rows: list[dict[str, Any]] = [
        {"_id": "n", "app": "a", "state": "SUCCESS", "name": "boom.x", "timestamp": NOW},
        {"_id": "g", "app": "a", "state": "FAILURE", "args": "['BOOM']", "timestamp": NOW - SECOND},
        {"_id": "k", "app": "b", "state": "SUCCESS", "kwargs": "{'x': 'kaboom'}", "timestamp": NOW},
        {"_id": "r", "app": "b", "state": "SUCCESS", "result": "'boom'", "timestamp": NOW},
        {"_id": "e", "app": "b", "state": "FAILURE", "exception": "boom", "timestamp": NOW},
        {"_id": "s", "app": "b", "state": "STARTED", "args": "boom", "timestamp": NOW},
    ]
    shown, count = plan.finish_set(rows, search.selection, None, 10, 0)
    assert ([r["_id"] for r in shown], count) == (["r", "n", "k", "g"], 4)  # newest first
    flow = select({"root_id": "r", "q": "boom"})  # a workflow is a bounded set: no range needed
    assert flow.narrow == ("root_id", "r") and flow.text == "boom"
    by_received = select({"q": "x", "sort": "received", "received_after": since})
    assert by_received.walk_key == "received" and by_received.is_window_set


# --- every read walks an index ------------------------------------------------------------


def served() -> list[dict[str, Any]]:
    """A request of every shape a walk serves."""
    out: list[dict[str, Any]] = []
    for key in shapes.TIME_KEYS:
        for sort in (key, f"-{key}"):
            out += [{"sort": sort}, {"sort": sort, "status": "f"}, {"sort": sort, "status": "f,s"}]
            out.append({"sort": "-runtime", f"{key}_after": NOW.isoformat(), "status": "f"})
    for name in ("name", "worker", "queue", "parent_id", "root_id"):
        out += [{name: "v"}, {name: "v", "sort": "timestamp"}]
    out += [{n: "v", "status": "f"} for n in shapes.WITH_STATUS]
    out += [{"published": "1"}, {"cidr_id": "c"}, {"asn_number": "5"}, {"uuid": "u"}]
    out += [{"name": "v", "sort": "name", "timestamp_after": NOW.isoformat()}]
    out += [{"q": "v", "name": "v", "status": "f", "timestamp_after": NOW.isoformat()}]
    return out


def index_for(query: dict[str, Any]) -> str | None:
    """The index that serves ``query`` as equalities then one range: its leading fields are
    the equalities (in any order), the next the range's field (SecantusDB's rule)."""
    equal = {k for k, v in query.items() if not isinstance(v, dict)}
    ranged = [k for k, v in query.items() if isinstance(v, dict)]
    specs = {**indexes.TASK_INDEXES, **indexes.label_indexes(SEED_LABELS)}
    for name, spec in specs.items():
        keys = [k for k, _ in spec["keys"]]
        if set(keys[: len(equal)]) != equal:
            continue
        if not ranged or (len(ranged) == 1 and keys[len(equal) : len(equal) + 1] == ranged):
            return name
    return None


@pytest.mark.parametrize(
    "params", served(), ids=lambda p: "&".join(f"{k}={v}" for k, v in p.items())
)
def test_every_read_of_every_served_shape_walks_an_index(params: dict[str, Any]) -> None:
    day = (NOW - timedelta(days=1),) * len(counts.TIMES)
    tally = {(counts.ALL, counts.ALL, "FAILURE"): counts.Cell(1, day, day)}
    plans = [page(params, totals={"a": tally})]
    key = shapes.Order.parse(params.get("sort", "-timestamp")).key
    plans.append(page(params, after=cursor.Cursor(params.get("sort", "-timestamp"), NOW, "x")))
    if key == "runtime":
        plans[1] = plans[0]
    for each in plans:
        for step in [*each.steps, *each.count]:
            for segment in step.segments:
                assert index_for(segment.query), segment.query


def test_label_indexes_are_the_shared_shape() -> None:
    assert indexes.label_indexes(["zone"]) == {"live_label_zone": {"keys": label_index("zone")[1]}}
    assert indexes.indexed_labels(["live_label_zone", "_id_", "live_app_timestamp"]) == {"zone"}
    assert all(spec["keys"][0] == ("deleted", 1) for spec in indexes.TASK_INDEXES.values())


def test_indexes_of_an_earlier_release_are_dropped_and_the_projectors_kept() -> None:
    specs = indexes.TASK_INDEXES
    held = {
        "_id_": [("_id", 1)],
        "live_uuid": specs["live_uuid"]["keys"],  # as it should be
        "live_state_ts": [("deleted", 1), ("state", 1), ("timestamp", 1), ("_id", 1)],  # gone
        "live_label_cidr_id": [
            ("deleted", 1),
            ("labels.cidr_id", 1),
            ("timestamp", 1),
        ],  # other keys
        "live_label_port": label_index("port")[1],  # the projector's, for a configured label
        "worker_1_state_1": [("worker", 1), ("state", 1)],  # the projector's own
    }
    assert indexes.obsolete(held, specs) == ["live_label_cidr_id", "live_state_ts"]


def test_a_first_pages_count_reads_on_from_its_last_row() -> None:
    oldest = NOW - 60 * SECOND  # the first window reaches past it: the next takes the rest
    tally = {(counts.ALL, counts.ALL, "SUCCESS"): counts.Cell(9, (oldest,) * 4, (NOW,) * 4)}
    walked = page({"root_id": "r"}, totals={a: tally for a in APPS}).rest
    assert walked is not None and walked.far == oldest
    rows = [{"_id": f"t{i}", "timestamp": NOW - i * SECOND} for i in range(10)]
    steps = plan.rest(walked, rows, 91, NOW)
    last = NOW - 9 * SECOND
    assert steps[0].segments[0].query | {"app": "a"} == {
        **plan.branches(select({"root_id": "r"}))[0], "timestamp": last, "_id": {"$lt": "t9"}
    }  # fmt: skip
    deep = 91 * plan.SLACK * SECOND  # a row a second: 91 rows, and some slack
    assert steps[1].segments[0].query["timestamp"] == {"$gte": last - deep, "$lt": last}
    assert steps[2].segments[0].query["timestamp"] == {"$gte": plan.MIN_TIME, "$lt": last - deep}
    assert steps[-1].segments[0].query["timestamp"] is None  # then the rows without one
    assert page({"status": "f"}, totals={a: tally for a in APPS}).rest is None  # counted


def test_the_pace_of_a_page_needs_two_times() -> None:
    assert plan.pace([{"timestamp": NOW}], "timestamp", 50) == SECOND
    assert plan.pace([{"timestamp": NOW}, {"timestamp": None}], "timestamp", 50) == SECOND
    assert plan.pace([{"timestamp": NOW}] * 2, "timestamp", 50) == SECOND
    rising = [{"received": NOW + i * SECOND} for i in range(5)]
    assert plan.pace(rising, "received", 10) == 10 * plan.SLACK * SECOND
    assert plan.pace(rising[:2], "received", 0) == totals.MIN_FIRST
