from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from tasktrail_api.domain import serializers
from tasktrail_api.schemas import CeleryTask, CeleryWorker, Dashboard
from tasktrail_shared.commands import CommandReply, WorkerOutcome
from tasktrail_shared.fields import WORKER_REPORTED

T = datetime(2022, 8, 30, 10, 43, 46, 758455, tzinfo=UTC)


def full_task() -> dict[str, object]:
    return {
        "_id": "81933c68-b4b2-4bf2-bc48-50998ce0873c",
        "uuid": "81933c68-b4b2-4bf2-bc48-50998ce0873c",
        "app": "default",
        "name": "scan.tasks.port_enumerate",
        "args": "['ad3ead73', 8888, 'http', None]",
        "kwargs": "{}",
        "state": "SUCCESS",
        "result": "None",
        "received": T,
        "started": T,
        "succeeded": T,
        "timestamp": T,
        "retries": 0,
        "runtime": 25.59,
        "worker": "celery@5b6fa28ac4b7",
        "root_id": None,
        "parent_id": None,
        "queue": "celery",
        "children": ["a", "b"],
        "_events": {"task-succeeded": {"result": "None"}},
        "_src": {"task-succeeded": "x"},
        "_v": 4,
    }


def test_a_task_has_the_seed_fields_and_nothing_internal() -> None:
    out = serializers.task(full_task())
    assert out["id"] == out["uuid"] == "81933c68-b4b2-4bf2-bc48-50998ce0873c"
    assert out["status"] == "SUCCESS"
    assert out["succeeded"] == "2022-08-30T10:43:46.758455Z"
    assert out["children"] == ["a", "b"]
    assert out["exception"] is None and out["failed"] is None
    assert not [key for key in out if key.startswith("_")]
    CeleryTask.model_validate(out)  # the documented shape is the real one
    json.dumps(out, allow_nan=False)


def test_a_task_known_only_as_a_parent_still_serializes() -> None:
    out = serializers.task({"_id": "p", "state": "PENDING", "children": ["c"]})
    assert out["uuid"] == "p" and out["name"] is None and out["timestamp"] is None
    CeleryTask.model_validate(out)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2022, 11, 22, 16, 40, 55, 792000), "2022-11-22T16:40:55.792000Z"),
        (
            datetime(2022, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))),
            "2022-01-01T00:00:00.000000Z",
        ),
        (1661771881.5, "2022-08-29T11:18:01.500000Z"),
    ],
)
def test_times_are_utc_with_a_z(value: object, expected: str) -> None:
    assert serializers.task({"_id": "x", "received": value})["received"] == expected


def test_odd_bson_values_become_plain_json() -> None:
    out = serializers.task(
        {
            "_id": "x",
            "result": {"v": float("nan"), "b": b"\x00", "l": (1, T)},
            "runtime": float("inf"),
        }
    )
    assert out["result"] == {"v": None, "b": "b'\\x00'", "l": [1, "2022-08-30T10:43:46.758455Z"]}
    assert out["runtime"] is None
    json.dumps(out, allow_nan=False)


def test_a_worker_is_online_until_alive_until() -> None:
    doc = {
        "_id": "celery@a",
        "id": "52bdd980-0542-450f-a9fb-31937db0dbad",
        "hostname": "celery@a",
        "alive_until": T,
        "active": 2,
        "processed": 10,
        "loadavg": [0.1, 0.2, 0.3],
        "freq": 2.0,
        "last_heartbeat": T - timedelta(seconds=4),
        "sw_ver": "5.4.0",
        "_events": {},
    }
    before = serializers.worker(doc, T - timedelta(microseconds=1))
    assert before["status"] is True
    assert serializers.worker(doc, T)["status"] is False
    assert before["id"] == "52bdd980-0542-450f-a9fb-31937db0dbad" and before["name"] == "celery@a"
    assert before["last_heartbeat"] == "2022-08-30T10:43:42.758455Z"
    CeleryWorker.model_validate(before)


def test_a_worker_without_heartbeat_is_offline() -> None:
    out = serializers.worker({"_id": "celery@b"}, T)
    assert out == {
        "id": "celery@b",
        "name": "celery@b",
        "status": False,
        "app": None,
        "last_heartbeat": None,
        **dict.fromkeys(WORKER_REPORTED),
    }


def test_dashboard_counts_states_and_online_workers() -> None:
    out = serializers.dashboard(
        [{"_id": "SUCCESS", "n": 17}, {"_id": "RETRY", "n": 2}, {"_id": "REJECTED", "n": 5}],
        [
            {"_id": True, "n": 9, "active": 180, "processed": 900},
            {"_id": False, "n": 4, "active": 7, "processed": 20},
        ],
    )
    assert out == {
        "worker": {
            "worker_online": 9,
            "worker_offline": 4,
            "worker_task_active": 180,
            "worker_task_processed": 920,
        },
        "task": {
            "task_pending": 0,
            "task_received": 0,
            "task_started": 0,
            "task_success": 17,
            "task_failed": 0,
            "task_revoked": 0,
            "task_retried": 2,
        },
    }
    Dashboard.model_validate(out)


def test_an_empty_dashboard_is_all_zero() -> None:
    out = serializers.dashboard([], [])
    assert set(out["worker"].values()) == {0} and set(out["task"].values()) == {0}


def reply(**workers: str) -> CommandReply:
    return CommandReply(
        id="r",
        command="revoke",
        ok=True,
        workers={
            h: WorkerOutcome.model_validate({"status": s, "detail": None if s == "ok" else "boom"})
            for h, s in workers.items()
        },
    )


def test_revoke_lists_the_ids_per_acknowledging_worker() -> None:
    out = serializers.revoke_result(reply(**{"celery@a": "ok", "celery@b": "error"}), ["1", "2"])
    assert out == {"list_revokes": {"celery@a": ["1", "2"]}, "errors": {"celery@b": "boom"}}


def test_shutdown_is_one_object_of_hostnames() -> None:
    out = serializers.shutdown_result(
        reply(**{"celery@a": "ok", "celery@c": "ok", "celery@b": "error"})
    )
    assert out == {
        "names": [{"celery@a": "shutdown", "celery@c": "shutdown"}],
        "errors": {"celery@b": "boom"},
    }


def test_labels_show_as_the_seed_fields_and_in_labels() -> None:
    doc = {**full_task(), "labels": {"cidr_id": "c-1", "asn_number": 123456, "zone": "eu"}}
    out = serializers.task(doc)
    assert (out["cidr_id"], out["asn_number"], out["asn_id"]) == ("c-1", 123456, None)
    assert out["labels"] == {"cidr_id": "c-1", "asn_number": 123456, "zone": "eu"}
    assert out["lost"] is False
    CeleryTask.model_validate(out)


def test_a_history_entry_names_its_actor() -> None:
    message = {"_id": "m1", "app": "default", "uuids": ["t"], "events": []}
    entry = {
        "uuid": "t",
        "index": 2,
        "type": "tasktrail.task.amended",
        "timestamp": T,
        "hostname": "tasktrail-api",
        "event": {"at": 1.5, "actor": "oncall", "fields": {"state": "SUCCESS", "at": T}},
    }
    out = serializers.task_event(message, entry)
    assert out["id"] == "m1:2" and out["actor"] == "oncall" and out["app"] == "default"
    assert out["event"]["fields"]["at"] == "2022-08-30T10:43:46.758455Z"
    json.dumps(out, allow_nan=False)


def test_command_results_carry_every_worker_and_the_result() -> None:
    reply = CommandReply(
        id="x",
        command="purge",
        ok=True,
        result=7,
        workers={"a": WorkerOutcome(status="error", detail=float("nan"))},
    )
    assert serializers.command_result(reply) == {
        "workers": {"a": {"status": "error", "detail": None}},
        "result": 7,
    }
