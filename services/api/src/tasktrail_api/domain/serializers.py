"""Read-model documents to the JSON the original API returned. Pure: no I/O, no clock.

Documents come from MongoDB, so values may be any BSON type; everything leaving here is
plain JSON (datetimes as ``2022-08-30T10:43:46.758455Z``, no NaN) and internal fields such as
``_events`` never leave.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from tasktrail_shared import states
from tasktrail_shared.commands import CommandReply
from tasktrail_shared.fields import SEED_LABELS, WORKER_REPORTED
from tasktrail_shared.times import as_utc

from tasktrail_api.domain.principals import short_name, token_org

Doc = Mapping[str, Any]

TASK_TIMES = (
    "received",
    "started",
    "succeeded",
    "sent",
    "failed",
    "retried",
    "revoked",
    "rejected",
    "timestamp",
)
TASK_PLAIN = (
    "name",
    "args",
    "kwargs",
    "result",
    "retries",
    "runtime",
    "exception",
    "traceback",
    "worker",
    "root_id",
    "parent_id",
    "eta",
    "expires",
    "queue",
    "app",
)
TASK_READ_FIELDS = ("uuid", "state", "children", "labels", "lost", *TASK_PLAIN, *TASK_TIMES)
"""Every task field read here; the query projects to these, so internal fields never load."""
WORKER_READ_FIELDS = ("id", "hostname", "app", "last_heartbeat", "alive_until", *WORKER_REPORTED)
"""Every worker field read here (the reported ones are shown as they are)."""

DASHBOARD_STATES = {
    "task_pending": states.PENDING,
    "task_received": states.RECEIVED,
    "task_started": states.STARTED,
    "task_success": states.SUCCESS,
    "task_failed": states.FAILURE,
    "task_revoked": states.REVOKED,
    "task_retried": states.RETRY,
}


def iso_z(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def plain(value: Any) -> Any:
    """Any BSON value as JSON: datetimes as ISO strings, non-finite floats as null, the rest str."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return iso_z(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return str(value)


def _time(value: Any) -> Any:
    """Lifecycle times are datetimes; an epoch number from an older projector still reads well."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return iso_z(datetime.fromtimestamp(value, UTC))
    return plain(value)


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def task(doc: Doc) -> dict[str, Any]:
    task_id = str(doc["_id"])
    out: dict[str, Any] = {"id": task_id, "uuid": str(doc.get("uuid") or task_id)}
    out["status"] = _optional_str(doc.get("state"))
    for field in TASK_PLAIN:
        out[field] = plain(doc.get(field))
    for field in TASK_TIMES:
        out[field] = _time(doc.get(field))
    for field in ("root_id", "parent_id", "worker", "name", "queue", "app"):
        out[field] = _optional_str(out[field])
    children = doc.get("children") or []
    out["children"] = [str(c) for c in children] if isinstance(children, list) else []
    labels = doc.get("labels")
    out["labels"] = plain(labels) if isinstance(labels, Mapping) else {}
    for name in SEED_LABELS:
        out[name] = out["labels"].get(name)
    out["lost"] = doc.get("lost") is True
    return out


def is_online(doc: Doc, now: datetime) -> bool:
    """Online while ``now < alive_until``, the expiry the projector computed."""
    alive_until = doc.get("alive_until")
    return isinstance(alive_until, datetime) and as_utc(alive_until) > as_utc(now)


def worker(doc: Doc, now: datetime) -> dict[str, Any]:
    hostname = str(doc.get("hostname") or doc["_id"])
    return {
        "id": str(doc.get("id") or doc["_id"]),
        "name": hostname,
        "status": is_online(doc, now),
        "app": _optional_str(doc.get("app")),
        "last_heartbeat": _time(doc.get("last_heartbeat")),
        **{field: plain(doc.get(field)) for field in WORKER_REPORTED},
    }


def _count(value: Any) -> int:
    return int(value) if isinstance(value, int | float) and math.isfinite(value) else 0


def dashboard(state_counts: Iterable[Doc], worker_groups: Iterable[Doc]) -> dict[str, Any]:
    """Build the dashboard from two ``$group`` results.

    ``state_counts`` rows are ``{_id: state, n}``; ``worker_groups`` rows are
    ``{_id: online?, n, active, processed}``. Active tasks count on online workers only (an
    offline worker's last ``active`` is stale); processed counts every worker.
    """
    by_state = {row.get("_id"): _count(row.get("n")) for row in state_counts}
    online = {"n": 0, "active": 0}
    offline = 0
    processed = 0
    for row in worker_groups:
        processed += _count(row.get("processed"))
        if row.get("_id") is True:
            online = {"n": _count(row.get("n")), "active": _count(row.get("active"))}
        else:
            offline += _count(row.get("n"))
    return {
        "worker": {
            "worker_online": online["n"],
            "worker_offline": offline,
            "worker_task_active": online["active"],
            "worker_task_processed": processed,
        },
        "task": {key: by_state.get(state, 0) for key, state in DASHBOARD_STATES.items()},
    }


def task_event(message: Doc, entry: Doc) -> dict[str, Any]:
    """One history entry of a ``task_events`` message: a Celery event, a hand-made write or a
    command naming the task (those two carry their ``actor``)."""
    event = entry.get("event")
    event = event if isinstance(event, Mapping) else {}
    return {
        "id": f"{message.get('_id')}:{entry.get('index', 0)}",
        "uuid": _optional_str(entry.get("uuid")),
        "type": _optional_str(entry.get("type")),
        "timestamp": _time(entry.get("timestamp")),
        "hostname": _optional_str(entry.get("hostname")),
        "app": _optional_str(message.get("app")),
        "actor": _optional_str(event.get("actor")),
        "event": plain(event),
    }


def token(doc: Doc) -> dict[str, Any]:
    """A stored token without its digest (the digest is as good as the token to an attacker
    who can replay it against a copy of the database), by the name it was given and its
    organisation (``null``: a root token; none stored: the default one)."""
    return {
        "name": short_name(str(doc.get("name"))),
        "org": token_org(doc),
        "role": str(doc.get("role")),
        "created": _time(doc.get("created")),
        "created_by": _optional_str(doc.get("created_by")),
    }


def command_result(reply: CommandReply) -> dict[str, Any]:
    """Any command's reply: the outcome per worker and the command's own result."""
    return {
        "workers": {
            host: {"status": outcome.status, "detail": plain(outcome.detail)}
            for host, outcome in reply.workers.items()
        },
        "result": plain(reply.result),
    }


def _failures(reply: CommandReply) -> dict[str, Any]:
    return {
        host: plain(outcome.detail)
        for host, outcome in reply.workers.items()
        if outcome.status != "ok"
    }


def revoke_result(reply: CommandReply, ids: list[str]) -> dict[str, Any]:
    acknowledged = [host for host, o in reply.workers.items() if o.status == "ok"]
    return {
        "list_revokes": {host: list(ids) for host in acknowledged},
        "errors": _failures(reply),
    }


def shutdown_result(reply: CommandReply) -> dict[str, Any]:
    done = {host: "shutdown" for host, o in reply.workers.items() if o.status == "ok"}
    return {"names": [done], "errors": _failures(reply)}
