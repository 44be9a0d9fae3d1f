"""Celery task states, the event types that set them, and Celery's precedence order."""

from __future__ import annotations

PENDING = "PENDING"
RECEIVED = "RECEIVED"
STARTED = "STARTED"
SUCCESS = "SUCCESS"
FAILURE = "FAILURE"
REVOKED = "REVOKED"
REJECTED = "REJECTED"
RETRY = "RETRY"

ALL_STATES = (PENDING, RECEIVED, STARTED, SUCCESS, FAILURE, REVOKED, REJECTED, RETRY)
READY_STATES = frozenset({SUCCESS, FAILURE, REVOKED})

TASK_EVENT_STATE: dict[str, str] = {
    "task-sent": PENDING,
    "task-received": RECEIVED,
    "task-started": STARTED,
    "task-succeeded": SUCCESS,
    "task-failed": FAILURE,
    "task-retried": RETRY,
    "task-revoked": REVOKED,
    "task-rejected": REJECTED,
}
TASK_EVENT_TYPES = frozenset(TASK_EVENT_STATE)
WORKER_EVENT_TYPES = frozenset({"worker-online", "worker-heartbeat", "worker-offline"})

# Celery's celery.states.PRECEDENCE, most final first. RETRY is not ordered by rank:
# a retry supersedes whatever happened before it and is superseded by what follows.
_PRECEDENCE = (SUCCESS, FAILURE, REVOKED, STARTED, RECEIVED, REJECTED, RETRY, PENDING)
RANK: dict[str, int] = {state: len(_PRECEDENCE) - i for i, state in enumerate(_PRECEDENCE)}
