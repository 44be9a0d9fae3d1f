"""The control service's logic against in-memory fakes of Celery and the log."""

from __future__ import annotations

import asyncio
import json
from typing import Any, get_args

import pytest
from tasktrail_control.handlers import HANDLERS
from tasktrail_control.ledger import Claim, MemoryLedger
from tasktrail_control.outcomes import NO_ANSWER
from tasktrail_control.service import Control
from tasktrail_shared.commands import CommandName, CommandReply, CommandRequest
from tasktrail_shared.own_events import TASK_RECONCILED, TASK_RECORDED, WORKER_INSPECTED

from tests.unit.control.fakes import FakeRemote, RecordingPublisher

REQUESTED, COMPLETED = "tasktrail.command.requested", "tasktrail.command.completed"


def make(
    workers: list[str] | None = None, **remote: Any
) -> tuple[Control, FakeRemote, RecordingPublisher]:
    fake, log = (
        FakeRemote(workers if workers is not None else ["w1@h"], **remote),
        RecordingPublisher(),
    )
    return Control("default", fake, log), fake, log


async def run(control: Control, command: CommandName, **args: Any) -> CommandReply:
    return await control.execute(CommandRequest(command=command, args=args, timeout=0.5))


def test_every_command_of_the_contract_has_a_handler() -> None:
    assert set(HANDLERS) == set(get_args(CommandName))


async def test_revoke_reaches_every_worker_and_is_recorded_twice() -> None:
    control, remote, log = make(["w1@h", "w2@h"])
    request = CommandRequest(
        command="revoke",
        args={"ids": ["t1", "t2"], "terminate": True, "signal": "KILL"},
        actor="ann",
    )
    reply = await control.execute(request)
    assert reply.ok and set(reply.workers) == {"w1@h", "w2@h"}
    assert remote.broadcasts == [
        ("revoke", {"task_id": ["t1", "t2"], "terminate": True, "signal": "SIGKILL"}, None)
    ]
    assert [e.type for e in log.events] == [REQUESTED, COMPLETED]
    requested, completed = log.of_type(REQUESTED)[0], log.of_type(COMPLETED)[0]
    # What the projector needs to mark the tasks revoke-requested at once:
    assert requested["actor"] == "ann"
    assert requested["args"] == {"ids": ["t1", "t2"], "terminate": True, "signal": "SIGKILL"}
    assert completed["outcome"]["workers"]["w1@h"]["status"] == "ok"
    assert completed["outcome"]["duration_ms"] >= 0


async def test_revoke_by_stamped_headers_is_broadcast() -> None:
    control, remote, _ = make()
    reply = await run(control, "revoke_by_stamped_headers", headers={"batch": ["b1", "b2"]})
    assert reply.ok and reply.workers["w1@h"].status == "ok"
    assert remote.broadcasts[0][:2] == (
        "revoke_by_stamped_headers",
        {"headers": {"batch": ["b1", "b2"]}, "terminate": False, "signal": "SIGTERM"},
    )


async def test_a_retried_command_executes_once() -> None:
    control, remote, log = make()
    request = CommandRequest(command="revoke", args={"ids": ["t1"]})
    first = await control.execute(request)
    second = await control.execute(request)
    assert first == second
    assert len(remote.broadcasts) == 1 and len(log.of_type(REQUESTED)) == 1


async def test_a_repeated_command_id_gets_the_first_reply_and_executes_once() -> None:
    """The API passes a client's Idempotency-Key through as the command id."""
    control, remote, log = make()
    first = await control.execute(
        CommandRequest(id="key-1", command="run", args={"name": "demo.add", "args": [1]})
    )
    again = await control.execute(
        CommandRequest(id="key-1", command="run", args={"name": "demo.add", "args": [2]})
    )
    assert first.ok and again == first and first.result == "task-1"
    assert len(remote.sent) == 1 and remote.sent[0]["args"] == [1]
    assert len(log.of_type(REQUESTED)) == 1 and len(log.of_type(COMPLETED)) == 1


async def test_a_refused_command_repeated_gets_the_same_refusal() -> None:
    control, _, log = make()
    request = CommandRequest(id="key-2", command="purge", args={"queue": ""})
    first, again = await control.execute(request), await control.execute(request)
    assert not first.ok and again == first
    assert len(log.of_type(REQUESTED)) == 1


async def test_a_command_id_used_for_another_command_is_refused() -> None:
    control, remote, _ = make()
    assert (await control.execute(CommandRequest(id="key-3", command="ping"))).ok
    reply = await control.execute(CommandRequest(id="key-3", command="purge", args={"queue": "q"}))
    assert not reply.ok and reply.command == "purge" and reply.id == "key-3"
    assert reply.error == "not executed: command id 'key-3' was used for ping"
    assert [b[0] for b in remote.broadcasts] == ["ping"]


async def test_a_duplicate_arriving_while_the_first_runs_waits_for_its_reply() -> None:
    control, remote, log = make()
    remote.delay = 0.3
    request = CommandRequest(command="ping", args={"names": ["w1@h"]})
    first, second = await asyncio.gather(control.execute(request), control.execute(request))
    assert first == second and first.ok
    assert len(remote.broadcasts) == 1 and len(log.of_type(REQUESTED)) == 1


async def test_an_abandoned_claim_is_taken_over_once_its_lease_ran_out() -> None:
    now = [100.0]
    ledger = MemoryLedger(clock=lambda: now[0])
    assert await ledger.claim("c1", lease=0.05) is Claim.MINE
    now[0] += 0.04
    assert await ledger.claim("c1", lease=0.05) is Claim.BUSY
    now[0] += 0.02
    assert await ledger.claim("c1", lease=0.05) is Claim.MINE


async def test_shutdown_reports_unknown_workers_as_errors() -> None:
    control, remote, _ = make()
    reply = await run(control, "shutdown", names=["w1@h", "ghost@h"])
    assert reply.ok
    assert reply.workers["w1@h"].status == "ok"
    assert reply.workers["ghost@h"].status == "error"
    assert reply.workers["ghost@h"].detail == NO_ANSWER
    assert remote.shut == ["w1@h"]


@pytest.mark.parametrize(
    ("command", "args", "sent"),
    [
        ("ping", {}, {}),
        ("pool_grow", {"n": 2}, {"n": 2}),
        ("pool_shrink", {}, {"n": 1}),
        ("autoscale", {"max": 8, "min": 2}, {"max": 8, "min": 2}),
        (
            "rate_limit",
            {"task_name": "demo.add", "rate": "10/m"},
            {"task_name": "demo.add", "rate_limit": "10/m"},
        ),
        (
            "time_limit",
            {"task_name": "demo.add", "soft": 5, "hard": 10},
            {"task_name": "demo.add", "soft": 5, "hard": 10},
        ),
        ("add_consumer", {"queue": "q1"}, {"queue": "q1", "exchange": None, "routing_key": None}),
        ("cancel_consumer", {"queue": "q1"}, {"queue": "q1"}),
    ],
)
async def test_worker_commands_reach_the_named_workers_and_report_the_missing_ones(
    command: CommandName, args: dict[str, Any], sent: dict[str, Any]
) -> None:
    control, remote, _ = make()
    reply = await run(control, command, names=["w1@h", "ghost@h"], **args)
    assert reply.ok
    assert remote.broadcasts == [(command, sent, ["w1@h", "ghost@h"])]
    assert reply.workers["w1@h"].status == "ok"
    assert reply.workers["ghost@h"].status == "error"
    assert reply.workers["ghost@h"].detail == NO_ANSWER


async def test_a_worker_refusing_a_command_is_an_error_for_that_worker() -> None:
    control, remote, _ = make(["w1@h", "w2@h"])
    remote.errors["autoscale"] = "ValueError('Autoscale not enabled')"
    reply = await run(control, "autoscale", max=4, min=1)
    assert reply.ok and remote.broadcasts[0][2] is None
    assert {o.status for o in reply.workers.values()} == {"error"}
    assert "Autoscale not enabled" in str(reply.workers["w1@h"].detail)


async def test_refresh_records_what_each_worker_answered_and_who_did_not() -> None:
    control, remote, log = make(["w1@h", "w2@h"])
    reply = await control.execute(
        CommandRequest(command="refresh", args={"expected": ["w1@h", "gone@h"]}, actor="ops")
    )
    assert reply.ok
    assert reply.workers["w1@h"].status == "ok" and reply.workers["w2@h"].status == "ok"
    assert reply.workers["gone@h"].status == "error"
    # Inspections go only to the workers that answered the ping.
    assert {(c, tuple(n or ())) for c, _, n in remote.broadcasts[1:]} == {
        (c, ("w1@h", "w2@h"))
        for c in ("stats", "active", "reserved", "registered", "active_queues")
    }
    events = {e["hostname"]: e for e in log.of_type(WORKER_INSPECTED)}
    assert set(events) == {"w1@h", "w2@h", "gone@h"}
    assert events["w1@h"]["reachable"] and events["w1@h"]["stats"] == {
        "pool": {"processes": [1, 2]}
    }
    assert events["w1@h"]["registered"] == ["demo.add"] and events["w1@h"]["actor"] == "ops"
    assert events["gone@h"] == {
        **events["gone@h"],
        "reachable": False,
        "stats": None,
        "active_queues": None,
    }


async def test_refresh_of_named_workers_also_pings_the_expected_ones() -> None:
    control, remote, log = make(["w1@h", "w2@h"])
    await run(control, "refresh", names=["w1@h"], expected=["w2@h"])
    assert remote.broadcasts[0] == ("ping", {}, ["w1@h", "w2@h"])
    assert {e["hostname"] for e in log.of_type(WORKER_INSPECTED)} == {"w1@h", "w2@h"}


async def test_sync_turns_every_task_the_backend_knows_into_a_reconciled_event() -> None:
    backend = {
        "t1": {"id": "t1", "state": "SUCCESS", "result": 5, "date_done": "2030-01-01T00:00:00"},
        "t2": {
            "id": "t2",
            "state": "FAILURE",
            "result": "ValueError('boom')",
            "traceback": "Traceback ...",
            "name": "demo.fail",
            "args": ["boom"],
            "kwargs": {},
            "worker": "w1@h",
            "retries": 0,
        },
    }
    control, _, log = make(backend=backend)
    reply = await run(control, "sync", ids=["t1", "t2", "unknown", "t1"])
    assert reply.ok and reply.result == 2
    events = {e["uuid"]: e for e in log.of_type(TASK_RECONCILED)}
    assert set(events) == {"t1", "t2"}
    assert events["t1"]["state"] == "SUCCESS" and events["t1"]["result"] == 5
    assert events["t2"]["name"] == "demo.fail" and events["t2"]["worker"] == "w1@h"
    assert events["t2"]["traceback"] == "Traceback ..."


async def test_sync_without_a_result_backend_says_so() -> None:
    control, _, log = make()
    reply = await run(control, "sync", ids=["t1"])
    assert not reply.ok and reply.error is not None and "TASKTRAIL_RESULT_BACKEND" in reply.error
    assert [e.type for e in log.events] == [REQUESTED, COMPLETED]


async def test_purge_reports_how_many_messages_it_removed() -> None:
    control, remote, _ = make()
    remote.queues["q1"] = 3
    reply = await run(control, "purge", queue="q1")
    assert reply.ok and reply.result == 3


async def test_run_sends_the_task_and_answers_its_id() -> None:
    control, remote, _ = make()
    reply = await run(
        control, "run", name="demo.add", args=[2, 3], queue="q1", eta="2030-01-01T00:00:00Z"
    )
    assert reply.ok and reply.result == "task-1"
    sent = remote.sent[0]
    assert (sent["name"], sent["args"], sent["queue"]) == ("demo.add", [2, 3], "q1")
    assert sent["eta"].isoformat() == "2030-01-01T00:00:00+00:00"


async def test_run_applies_time_limits_and_records_its_labels_once_sent() -> None:
    control, remote, log = make()
    request = CommandRequest(
        command="run",
        args={"name": "demo.add", "args": ["2"], "time_limit": 60, "soft_time_limit": 50,
              "labels": {"catalog_id": "0123456789abcdef01234567", "origin": "token"}},
        actor="ann",
        timeout=0.5,
    )  # fmt: skip
    reply = await control.execute(request)
    assert reply.ok and reply.result == "task-1"
    assert (remote.sent[0]["time_limit"], remote.sent[0]["soft_time_limit"]) == (60.0, 50.0)
    assert [e.type for e in log.events] == [REQUESTED, TASK_RECORDED, COMPLETED]
    recorded = next(e for e in log.events if e.type == TASK_RECORDED)
    assert recorded.id == f"{request.id}:task-1" and recorded.subject == "task-1"
    payload = recorded.json()
    assert (payload["uuid"], payload["actor"]) == ("task-1", "ann")
    fields = payload["fields"]
    assert fields["name"] == "demo.add" and fields["state"] == "PENDING" and fields["sent"]
    assert (fields["catalog_id"], fields["origin"]) == ("0123456789abcdef01234567", "token")


async def test_a_run_that_is_not_sent_records_no_labels() -> None:
    control, remote, log = make()
    reply = await run(control, "run", name="demo.add", time_limit=5, soft_time_limit=6,
                      labels={"origin": "token"})  # fmt: skip
    assert not reply.ok and reply.error is not None
    assert "'soft_time_limit' must not exceed 'time_limit'" in reply.error
    assert remote.sent == [] and log.of_type(TASK_RECORDED) == []


async def test_run_with_both_eta_and_countdown_is_refused_clearly_and_sends_nothing() -> None:
    control, remote, log = make()
    for countdown in (5, 0):
        reply = await run(
            control, "run", name="demo.add", eta="2030-01-01T00:00:00Z", countdown=countdown
        )
        assert not reply.ok
        assert reply.error == (
            "invalid arguments for run: give either 'eta' or 'countdown', not both"
        )
    reply = await run(control, "run", name="demo.add", eta="2030-01-01T00:00:00")
    assert not reply.ok and reply.error is not None and "'eta': give a time zone" in reply.error
    assert remote.sent == []
    assert len(log.of_type(COMPLETED)) == 3


async def test_retry_runs_the_task_again_with_its_original_arguments() -> None:
    control, remote, log = make()
    reply = await run(
        control, "retry", id="old", name="demo.fail", args="('boom',)", kwargs="{}", queue=None
    )
    assert reply.ok and reply.result == "task-1"
    assert remote.sent[0]["args"] == ["boom"] and remote.sent[0]["kwargs"] == {}
    assert log.of_type(REQUESTED)[0]["args"]["id"] == "old"


async def test_retry_refuses_arguments_celery_truncated() -> None:
    control, remote, _ = make()
    reply = await run(control, "retry", id="old", name="demo.add", args="('aaaa...',)")
    assert not reply.ok and reply.error is not None
    assert "arguments were not captured in full" in reply.error
    assert remote.sent == []


async def test_bad_arguments_give_a_clear_error_not_an_exception() -> None:
    control, remote, log = make()
    reply = await run(control, "revoke", ids="t1")
    assert not reply.ok and reply.error is not None and "'ids'" in reply.error
    reply = await run(control, "revoke", ids=["t1"], signal="NOPE")
    assert not reply.ok and reply.error is not None and "'signal': unknown signal" in reply.error
    reply = await run(control, "pool_grow", names=[])
    assert not reply.ok and reply.error is not None and "'names'" in reply.error
    assert remote.broadcasts == []
    # Refused commands are recorded too: the audit shows who tried what.
    assert len(log.of_type(REQUESTED)) == 3 and len(log.of_type(COMPLETED)) == 3


async def test_malformed_request_bytes_get_an_error_reply_with_their_id() -> None:
    control, _, _ = make()
    raw = await control.handle(b'{"id": "abc", "command": "format-disk"}')
    reply = CommandReply.model_validate(json.loads(raw))
    assert not reply.ok and reply.error is not None and "bad request" in reply.error
    assert reply.id == "abc"
    reply = CommandReply.model_validate_json(await control.handle(b"\xff not json"))
    assert not reply.ok and reply.id == ""


async def test_a_command_that_overruns_its_deadline_is_answered_as_failed() -> None:
    fake, log = FakeRemote(["w1@h"]), RecordingPublisher()
    control = Control("default", fake, log, grace=0.1)
    fake.delay = 5
    reply = await control.execute(
        CommandRequest(command="ping", args={"names": ["w1@h"]}, timeout=0.05)
    )
    assert not reply.ok and reply.error is not None and "did not finish within 0.2 s" in reply.error
    assert log.of_type(COMPLETED)[0]["outcome"]["ok"] is False


async def test_a_command_that_cannot_be_recorded_is_not_executed_and_can_be_retried() -> None:
    control, remote, log = make()
    log.failing = True
    request = CommandRequest(command="revoke", args={"ids": ["t1"]})
    reply = await control.execute(request)
    assert not reply.ok and reply.error is not None and "not executed" in reply.error
    assert remote.broadcasts == []
    log.failing = False
    assert (await control.execute(request)).ok
    assert len(remote.broadcasts) == 1
