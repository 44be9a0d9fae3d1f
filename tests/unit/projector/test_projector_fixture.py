"""The read models built from real Celery traffic end where the recorded scenario ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tasktrail_projector.domain import workers
from tasktrail_projector.domain.events import Observed, to_datetime

from tests.unit.projector.builders import online
from tests.unit.projector.replay import Replay

Doc = dict[str, Any]


def _by_name(task_docs: dict[str, Doc], name: str) -> list[Doc]:
    return [d for d in task_docs.values() if d.get("name") == name]


def test_every_sent_task_has_a_document(recorded: list[Observed], replay: Replay) -> None:
    task_docs, _ = replay([recorded])
    sent = {o.event["uuid"] for o in recorded if o.type == "task-sent"}
    assert set(task_docs) == sent
    assert len(task_docs) == 15  # 16 task-sent: the flaky retry re-sends the same uuid
    assert all(d["app"] == "scan" for d in task_docs.values())


def test_port_enumerate_tasks_succeed(recorded: list[Observed], replay: Replay) -> None:
    task_docs, _ = replay([recorded])
    done = _by_name(task_docs, "scan.tasks.port_enumerate")
    assert len(done) == 5
    for doc in done:
        assert doc["state"] == "SUCCESS"
        assert doc["worker"] == "w1@corpus"
        assert doc["result"] == "'enumeration successful! 1 enumerated with priority: 5'"
        assert doc["runtime"] > 0
        assert doc["queue"] == "celery"
        assert doc["sent"] <= doc["received"] <= doc["started"] <= doc["succeeded"]
        assert doc["timestamp"] == doc["succeeded"]
        assert doc["timestamp"].tzinfo is not None


def test_failed_task_keeps_its_exception(recorded: list[Observed], replay: Replay) -> None:
    task_docs, _ = replay([recorded])
    [doc] = _by_name(task_docs, "scan.tasks.fail")
    assert doc["state"] == "FAILURE"
    assert doc["exception"] == "ValueError('boom 1')"
    assert "ValueError: boom 1" in doc["traceback"]
    assert doc["timestamp"] == doc["failed"]
    assert doc["result"] is None


def test_flaky_task_succeeds_after_its_retry(recorded: list[Observed], replay: Replay) -> None:
    task_docs, _ = replay([recorded])
    [doc] = _by_name(task_docs, "scan.tasks.flaky")
    assert doc["state"] == "SUCCESS"
    assert doc["retries"] == 1
    assert doc["retried"] is not None and doc["retried"] < doc["succeeded"]
    assert doc["result"] == "'ok after 1 retries'"
    assert doc["exception"] == "RuntimeError('transient k1')"  # from task-retried
    assert doc["children"] == []  # a retry names itself as parent: not a child


def test_terminated_sleep_is_revoked(recorded: list[Observed], replay: Replay) -> None:
    task_docs, _ = replay([recorded])
    [doc] = _by_name(task_docs, "scan.tasks.sleep")
    assert doc["state"] == "REVOKED"
    assert doc["revoke"] == {"terminated": True, "signum": 15, "expired": False}
    assert doc["timestamp"] == doc["revoked"]
    assert doc["started"] is not None


def test_task_for_a_queue_nobody_consumes_stays_pending(
    recorded: list[Observed], replay: Replay
) -> None:
    task_docs, _ = replay([recorded])
    [doc] = [d for d in task_docs.values() if d["queue"] == "nobody"]
    assert doc["state"] == "PENDING"
    assert doc["worker"] is None  # task-sent's hostname is the client
    assert doc["received"] is None
    assert doc["timestamp"] == doc["sent"]
    assert doc["args"] == "(9, 9)"


def test_chain_child_is_listed_by_its_parent(recorded: list[Observed], replay: Replay) -> None:
    task_docs, _ = replay([recorded])
    child = next(d for d in task_docs.values() if d["args"] == "(3, 3)")
    parent = task_docs[child["parent_id"]]
    assert parent["args"] == "(1, 2)"
    assert parent["children"] == [child["uuid"]]
    assert child["root_id"] == parent["uuid"]
    assert child["state"] == "SUCCESS" and child["result"] == "6"


def test_countdown_task_keeps_its_eta(recorded: list[Observed], replay: Replay) -> None:
    task_docs, _ = replay([recorded])
    doc = next(d for d in task_docs.values() if d["args"] == "(5, 5)")
    assert doc["eta"] == "2026-11-22T15:50:22.572621+00:00"
    assert doc["state"] == "SUCCESS"


def test_killed_worker_goes_offline_by_heartbeat_expiry(
    recorded: list[Observed], replay: Replay
) -> None:
    _, worker_docs = replay([recorded])
    doc = worker_docs["w2@corpus"]
    beats = [o for o in recorded if o.hostname == "w2@corpus"]
    last = max(beats, key=Observed.key)
    assert last.type == "worker-heartbeat"
    assert doc["offline_at"] is None
    assert doc["last_heartbeat"] == to_datetime(last.received)
    assert doc["alive_until"] == to_datetime(last.received + 2 * 2.0)
    assert doc["freq"] == 2.0 and doc["pid"] == 15323 and doc["sw_ver"] == "5.7.0"
    assert online(doc, doc["last_heartbeat"] + timedelta(seconds=1))
    assert not online(doc, doc["alive_until"] + timedelta(milliseconds=1))


def test_worker_shut_down_is_offline_at_once(recorded: list[Observed], replay: Replay) -> None:
    _, worker_docs = replay([recorded])
    doc = worker_docs["w1@corpus"]
    offline = next(o for o in recorded if o.type == "worker-offline")
    assert doc["offline_at"] == to_datetime(offline.received)
    assert doc["alive_until"] == doc["offline_at"]
    assert doc["last_heartbeat"] < doc["offline_at"]
    assert doc["processed"] == 15 and doc["active"] == 0
    assert not online(doc, doc["offline_at"])
    assert doc["id"] == workers.worker_id("scan", "w1@corpus")
    assert doc["id"] != worker_docs["w2@corpus"]["id"]


def test_datetimes_are_utc_and_millisecond_precise(
    recorded: list[Observed], replay: Replay
) -> None:
    task_docs, worker_docs = replay([recorded])
    for doc in [*task_docs.values(), *worker_docs.values()]:
        for value in doc.values():
            if isinstance(value, datetime):
                assert value.tzinfo == UTC
                assert value.microsecond % 1000 == 0
