"""Real task lifecycles, worker lives and API records, as stream messages and as decoded items.

Each lifecycle is what a Celery worker (and the API) really emits for it: success, failure,
a retry, a revoke with terminate, a rejection, a worker killed mid-task (its task stays
STARTED and its heartbeats stop), a chain child, and a task created, amended, deleted,
restored and reconciled through the API. Times span three minutes, so stats fall in several
buckets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tasktrail_projector.domain.events import Observed
from tasktrail_projector.domain.messages import decode_message
from tasktrail_projector.domain.own_events import Record
from tasktrail_shared.stream_message import StreamMessage

from tests.unit.projector.builders import celery_message, iso, record_envelope

T0 = 1_800_000_000.0
"""2027-01-15T08:00:00Z: every time below is an offset from it."""
W1, W2, W3 = "w1@h", "w2@h", "w3@h"
PIDS = {W1: 101, W2: 202, W3: 303}


def _e(kind: str, at: float, host: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "hostname": host,
        "timestamp": T0 + at,
        "pid": PIDS.get(host, 1),
        "clock": int(at * 10),
        **fields,
    }


def _sent(uuid: str, at: float, name: str, args: str, parent: str | None = None) -> dict[str, Any]:
    return _e(
        "task-sent",
        at,
        "client@h",
        uuid=uuid,
        name=name,
        args=args,
        kwargs="{'asn': 64500}",
        retries=0,
        queue="celery",
        exchange="",
        routing_key="celery",
        root_id=parent or uuid,
        parent_id=parent,
    )


def _received(uuid: str, at: float, host: str, name: str, args: str, **f: Any) -> dict[str, Any]:
    return _e("task-received", at, host, uuid=uuid, name=name, args=args, kwargs="{}", **f)


def messages() -> list[StreamMessage]:
    """Every message of the scenario, in the order a collector would have stored them."""
    scan = "scan.tasks.port_enumerate"
    args = "('cidr-1', [{'packet': UUID('0d3b5d3a-2fd8-4f4d-b5a3-4bb5a0a5d001')}])"
    out = [
        celery_message("worker.online", _e("worker-online", 0, W1, freq=2.0, sw_ver="5.4.0")),
        celery_message("worker.online", _e("worker-online", 0.5, W2, freq=2.0, sw_ver="5.4.0")),
        celery_message("task.sent", _sent("ok", 1, scan, args)),
        celery_message("task.sent", _sent("bad", 2, "scan.tasks.fail", "(1,)")),
        celery_message("task.sent", _sent("flaky", 3, "scan.tasks.flaky", "('k',)")),
        celery_message("task.sent", _sent("long", 4, "scan.tasks.sleep", "(60,)")),
        celery_message("task.sent", _sent("nope", 5, "scan.tasks.reject", "()")),
        celery_message("task.sent", _sent("doomed", 6, "scan.tasks.sleep", "(600,)")),
        celery_message(
            "task.multi",
            [
                _received("ok", 1.1, W1, scan, args),
                _e("task-started", 1.2, W1, uuid="ok"),
                _received("bad", 2.1, W1, "scan.tasks.fail", "(1,)"),
                _e("task-started", 2.2, W1, uuid="bad"),
                _e("task-failed", 2.5, W1, uuid="bad", exception="ValueError('x')", traceback="tb"),
                _received("flaky", 3.1, W1, "scan.tasks.flaky", "('k',)"),
                _e("task-started", 3.2, W1, uuid="flaky"),
                _e("task-retried", 3.3, W1, uuid="flaky", exception="Busy()", traceback="tb"),
            ],
        ),
        celery_message("worker.heartbeat", _e("worker-heartbeat", 2, W1, freq=2.0, active=2)),
        celery_message("worker.heartbeat", _e("worker-heartbeat", 2.4, W2, freq=2.0, active=1)),
        celery_message(
            "task.multi",
            [
                _e("task-succeeded", 61.0, W1, uuid="ok", result="6", runtime=59.8),
                _received("flaky", 62.0, W1, "scan.tasks.flaky", "('k',)", retries=1),
                _e("task-started", 62.1, W1, uuid="flaky"),
                _e("task-succeeded", 62.3, W1, uuid="flaky", result="'ok'", runtime=0.2),
                _received("long", 62.5, W1, "scan.tasks.sleep", "(60,)"),
                _e("task-started", 62.6, W1, uuid="long"),
                _e("task-revoked", 63.0, W1, uuid="long", terminated=True, signum=9, expired=False),
                _received("nope", 63.5, W1, "scan.tasks.reject", "()"),
                _e("task-rejected", 63.6, W1, uuid="nope", requeue=False),
            ],
        ),
        celery_message(
            "task.multi",
            [
                _received("doomed", 6.1, W2, "scan.tasks.sleep", "(600,)"),
                _e("task-started", 6.2, W2, uuid="doomed"),
            ],
        ),
        celery_message("task.sent", _sent("child", 61.5, "scan.tasks.mul", "(6,)", parent="ok")),
        celery_message("task.multi", [_received("child", 64, W1, "scan.tasks.mul", "(6,)")]),
        celery_message("worker.heartbeat", _e("worker-heartbeat", 64, W1, freq=2.0, active=0)),
        celery_message("worker.offline", _e("worker-offline", 130, W1, freq=2.0)),
        record_envelope(
            "task.recorded",
            T0 + 70,
            uuid="manual",
            fields={"name": "manual.report", "state": "PENDING", "received": iso(T0 + 69)},
        ),
        record_envelope(
            "task.amended", T0 + 71, uuid="manual", fields={"state": "STARTED", "worker": W3}
        ),
        record_envelope("task.deleted", T0 + 72, uuid="manual"),
        record_envelope("task.recorded", T0 + 73, uuid="manual", fields={"name": "manual.v2"}),
        record_envelope(
            "task.reconciled",
            T0 + 140,
            uuid="manual",
            state="SUCCESS",
            result=42,
            date_done=iso(T0 + 139),
        ),
        record_envelope("task.deleted", T0 + 75, uuid="bad"),
        record_envelope("worker.recorded", T0 + 80, hostname=W3, fields={"sw_ver": "manual"}),
        record_envelope("worker.amended", T0 + 81, hostname=W2, fields={"sw_ver": "5.4.1"}),
        record_envelope("worker.inspected", T0 + 82, hostname=W3, reachable=False),
        record_envelope(
            "worker.inspected", T0 + 5, hostname=W1, reachable=True, registered=["scan.tasks.x"]
        ),
        record_envelope("worker.deleted", T0 + 83, hostname=W3),
    ]
    return out


def decoded(envelopes: list[StreamMessage] | None = None) -> list[Observed | Record]:
    """Every Celery event and record of the messages, as the projector decodes them."""
    items: list[Observed | Record] = []
    for env in envelopes or messages():
        message = decode_message(env.headers(), env.data)
        items += [*message.events, *message.records]
    return items


AFTER = datetime.fromtimestamp(T0 + 600, UTC)
"""A moment after everything: W2's heartbeats have long expired, W1 has shut down."""
