"""Own events (manual records, amendments, deletes, reconciliation, inspection) and who wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tasktrail_projector.domain.events import to_datetime
from tasktrail_projector.domain.messages import InvalidMessage, decode_message
from tasktrail_projector.domain.own_events import InvalidRecord

from tests.unit.projector.builders import (
    event,
    iso,
    online,
    record,
    record_envelope,
    worker_event,
)
from tests.unit.projector.replay import fold

Doc = dict[str, Any]
T0 = 1_800_000_000.0


def task(*items: Any) -> Doc:
    return fold([list(items)])[0]["t1"]


def worker(*items: Any) -> Doc:
    return fold([list(items)])[1]["w1@h"]


MANUAL = record(
    "task.recorded",
    T0,
    uuid="t1",
    fields={
        "name": "manual.thing",
        "args": "['a', 1]",
        "state": "success",
        "result": "'done'",
        "received": iso(T0 - 3),
        "succeeded": iso(T0 - 1),
        "worker": "woker_1",
        "queue": "q",
        "asn_number": 64500,
    },
)


def test_a_manual_task_has_the_fields_it_was_given() -> None:
    doc = task(MANUAL)
    assert (doc["name"], doc["state"], doc["result"], doc["worker"]) == (
        "manual.thing",
        "SUCCESS",
        "'done'",
        "woker_1",
    )
    assert doc["succeeded"] == to_datetime(T0 - 1) == doc["timestamp"] == doc["finished"]
    assert doc["received"] == to_datetime(T0 - 3) and doc["started"] is None
    assert doc["labels"] == {"asn_number": 64500} and doc["asn_number"] == 64500
    assert doc["app"] == "default" and not doc["deleted"]


def test_celery_events_win_over_a_manual_record_and_it_fills_the_gaps() -> None:
    received = event("task-received", T0 + 5, name="real.name", args="(1,)", kwargs="{}")
    doc = task(MANUAL, received)
    assert (doc["name"], doc["args"], doc["state"]) == ("real.name", "(1,)", "RECEIVED")
    assert doc["worker"] == "w1@h" and doc["received"] == to_datetime(T0 + 5)
    assert doc["queue"] == "q" and doc["result"] == "'done'"  # nobody else said
    assert doc["succeeded"] == to_datetime(T0 - 1)


def test_amendments_override_everything_latest_at_per_field() -> None:
    done = event("task-succeeded", T0, result="1")
    first = record("task.amended", T0 + 10, uuid="t1", fields={"result": "'a'", "state": "FAILURE"})
    later = record("task.amended", T0 + 20, uuid="t1", fields={"result": "'b'"})
    doc = task(later, done, first)
    assert (doc["result"], doc["state"]) == ("'b'", "FAILURE")
    assert doc["timestamp"] == to_datetime(T0 + 10)  # no failed time: the amendment's
    assert doc["_amend"]["state"]["actor"] == "tester"
    clear = record("task.amended", T0 + 30, uuid="t1", fields={"state": None})
    assert task(done, first, clear)["state"] == "SUCCESS"  # un-set: back to the events


def test_amended_state_takes_its_time_from_the_matching_lifecycle_field() -> None:
    started = event("task-started", T0)
    amended = record(
        "task.amended", T0 + 50, uuid="t1", fields={"state": "SUCCESS", "succeeded": iso(T0 + 9)}
    )
    doc = task(started, amended)
    assert doc["state"] == "SUCCESS" and doc["timestamp"] == to_datetime(T0 + 9)


def test_delete_hides_until_a_later_manual_record_restores() -> None:
    gone = record("task.deleted", T0 + 1, uuid="t1")
    assert task(MANUAL, gone)["deleted"] is True
    back = record("task.recorded", T0 + 2, uuid="t1", fields={"name": "again"})
    assert task(gone, MANUAL, back)["deleted"] is False
    amended = record("task.amended", T0 + 3, uuid="t1", fields={"name": "x"})
    assert task(MANUAL, gone, amended)["deleted"] is True  # only a record restores
    assert task(event("task-sent", T0 + 9), gone)["deleted"] is True


def test_reconciliation_fills_a_final_state_no_worker_reported() -> None:
    found = record(
        "task.reconciled",
        T0 + 60,
        uuid="t1",
        state="SUCCESS",
        result={"n": 6},
        date_done=iso(T0 + 30),
        name="from.backend",
        worker="w9@h",
    )
    started = event("task-started", T0, host="w1@h")
    doc = task(started, found)
    assert (doc["state"], doc["result"]) == ("SUCCESS", "{'n': 6}")
    assert doc["succeeded"] == to_datetime(T0 + 30) == doc["timestamp"]
    assert doc["worker"] == "w1@h" and doc["name"] == "from.backend"  # events first, then backend
    alone = task(found)
    assert (alone["state"], alone["worker"]) == ("SUCCESS", "w9@h")


def test_reconciliation_never_overrides_a_reported_final_state() -> None:
    failed = event("task-failed", T0, exception="E()", traceback="tb")
    found = record("task.reconciled", T0 + 60, uuid="t1", state="SUCCESS", result=1)
    doc = task(failed, found)
    assert (doc["state"], doc["exception"], doc["result"]) == ("FAILURE", "E()", None)
    failure = record(
        "task.reconciled", T0 + 60, uuid="t1", state="FAILURE", result="Boom()", traceback="tb2"
    )
    doc = task(event("task-received", T0), failure)
    assert (doc["state"], doc["exception"], doc["traceback"]) == ("FAILURE", "Boom()", "tb2")
    pending = record("task.reconciled", T0 + 60, uuid="t1", state="PENDING")
    assert task(event("task-started", T0), pending)["state"] == "STARTED"


@pytest.mark.parametrize(
    ("kind", "payload", "reason"),
    [
        ("task.recorded", {"uuid": "t", "fields": {"_id": 1}}, "cannot be set"),
        ("task.recorded", {"uuid": "t", "fields": {"children": []}}, "cannot be set"),
        ("task.recorded", {"uuid": "t", "fields": {"a.b": 1}}, "cannot be set"),
        ("task.amended", {"uuid": "t", "fields": {"started": "yesterday"}}, "ISO 8601"),
        ("task.amended", {"uuid": "t", "fields": {"started": 5}}, "ISO 8601"),
        ("task.amended", {"uuid": "t", "fields": {"state": "DONE"}}, "not one of"),
        ("task.deleted", {"uuid": ""}, "uuid must be"),
        ("task.reconciled", {"uuid": "t", "state": "nope"}, "not one of"),
        ("worker.amended", {"hostname": "w", "fields": {"state": 1}}, "cannot be set on a worker"),
        ("worker.amended", {"hostname": "w", "fields": {"status": 1}}, "true or false"),
        ("task.deleted", {"uuid": "t", "extra": 1}, "extra"),
        ("task.deleted", {"uuid": "t", "at": -1.0}, "valid time"),
    ],
)
def test_records_breaking_the_contract_are_refused_with_a_reason(
    kind: str, payload: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidRecord, match=reason):
        record(kind, payload.pop("at", T0), **payload)


def test_a_bad_record_message_is_an_invalid_message() -> None:
    env = record_envelope("task.deleted", T0, uuid="t1")
    with pytest.raises(InvalidMessage, match="not valid JSON"):
        decode_message(env.headers(), b"{")
    decoded = decode_message(env.headers(), env.data)
    assert [r.kind for r in decoded.records] == ["deleted"] and decoded.events == []


# --- workers ---------------------------------------------------------------------------------


def test_a_manual_worker_is_offline_and_celery_events_win() -> None:
    manual = record("worker.recorded", T0, hostname="w1@h", fields={"sw_ver": "1.0", "pid": 1})
    doc = worker(manual)
    assert (doc["name"], doc["sw_ver"], doc["alive_until"], doc["deleted"]) == (
        "w1@h",
        "1.0",
        None,
        False,
    )
    doc = worker(manual, worker_event("worker-heartbeat", T0 + 1, sw_ver=None, pid=42))
    assert doc["pid"] == 42 and doc["sw_ver"] == "1.0"
    fix = record("worker.amended", T0 + 5, hostname="w1@h", fields={"pid": 9})
    assert worker(fix, manual, worker_event("worker-heartbeat", T0 + 9, pid=42))["pid"] == 9


def test_a_deleted_worker_comes_back_when_recorded_again_or_restarted() -> None:
    beat = worker_event("worker-heartbeat", T0)
    gone = record("worker.deleted", T0 + 10, hostname="w1@h")
    assert worker(beat, gone)["deleted"] is True
    assert worker(gone, beat, worker_event("worker-heartbeat", T0 + 20))["deleted"] is True
    assert worker(gone, worker_event("worker-online", T0 + 20))["deleted"] is False
    again = record("worker.recorded", T0 + 30, hostname="w1@h")
    assert worker(gone, beat, again)["deleted"] is False


def test_a_declared_status_holds_until_the_worker_next_shows_a_sign() -> None:
    far = to_datetime(T0 + 10**6)
    manual = record("worker.recorded", T0, hostname="w1@h", fields={"status": True})
    doc = worker(manual)
    assert online(doc, far)  # never beat: as declared, for good
    assert doc["declared"] == {"online": True, "at": T0, "actor": "tester"}
    beat = worker_event("worker-heartbeat", T0 + 10)  # the worker speaks: Celery's rule again
    assert not online(worker(beat, manual), far)
    assert online(worker(beat, manual), to_datetime(T0 + 12))
    down = record("worker.amended", T0 + 20, hostname="w1@h", fields={"status": False})
    taken = worker(down, beat, manual)
    assert taken["alive_until"] == to_datetime(T0 + 20)  # offline from the declaration
    assert not online(taken, to_datetime(T0 + 20.5))
    up = record("worker.amended", T0 + 21, hostname="w1@h", fields={"status": True})
    assert online(worker(up, down, beat, manual), far)  # latest declaration wins
    missed = record("worker.inspected", T0 + 30, hostname="w1@h", reachable=False)
    assert not online(worker(up, missed, beat), to_datetime(T0 + 31))


def test_inspection_is_stored_and_an_unanswered_one_takes_the_worker_offline() -> None:
    beat = worker_event("worker-heartbeat", T0)  # received at T0 + 0.001: alive until T0 + 4
    answered = record(
        "worker.inspected",
        T0 + 1,
        hostname="w1@h",
        reachable=True,
        stats={"total": {"scan.tasks.x": 3}},
        registered=["scan.tasks.x"],
    )
    missed = record("worker.inspected", T0 + 2, hostname="w1@h", reachable=False)
    doc = worker(beat, missed, answered)
    assert doc["inspected"]["registered"] == ["scan.tasks.x"]  # kept from the answered one
    assert doc["inspected"]["at"] == to_datetime(T0 + 1)
    assert doc["unreachable_at"] == to_datetime(T0 + 2) == doc["alive_until"]
    assert not online(doc, to_datetime(T0 + 3))
    back = worker(beat, missed, worker_event("worker-heartbeat", T0 + 3))
    assert back["unreachable_at"] is None and back["alive_until"] == to_datetime(T0 + 3.001 + 4)
    later = record("worker.inspected", T0 + 2.5, hostname="w1@h", reachable=True)
    assert worker(beat, missed, later)["unreachable_at"] is None


def test_an_old_unanswered_inspection_does_not_override_a_newer_heartbeat() -> None:
    missed = record("worker.inspected", T0 - 5, hostname="w1@h", reachable=False)
    doc = worker(missed, worker_event("worker-heartbeat", T0))
    assert doc["unreachable_at"] is None
    assert online(doc, datetime.fromtimestamp(T0 + 1, UTC))
    assert doc["alive_until"] - doc["last_heartbeat"] == timedelta(seconds=4)
