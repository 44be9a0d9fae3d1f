"""Celery task states, the event types that set them, Celery's precedence order, and the
names a state may be given by (in any case, or by the original API's one-letter statuses)."""

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
"""Final states, as Celery's ``celery.states.READY_STATES``: nothing follows them."""
UNFINISHED = tuple(state for state in ALL_STATES if state not in READY_STATES)
"""Every state but the final ones (in :data:`ALL_STATES` order): a task in one of them may
still change, so ``sync`` looks it up in the result backend."""
ON_WORKER = frozenset({RECEIVED, STARTED})
"""States in which a task sits on a worker: the ones a dead worker leaves lost (the
projector's ``lost`` flag, seed 003's Stalled)."""

STATUS_ALIASES = {
    "p": PENDING,
    "r": RECEIVED,
    "t": STARTED,
    "s": SUCCESS,
    "f": FAILURE,
    "v": REVOKED,
    "y": RETRY,
    "j": REJECTED,
}
"""The one-letter statuses of the original API (``"p"``, ``"s"``...) and the states they mean."""

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


def parse_state(value: object) -> str:
    """A state name in any case (``"success"``), as Celery spells it; ``ValueError`` if unknown."""
    state = value.upper() if isinstance(value, str) else None
    if state not in ALL_STATES:
        raise ValueError(f"{value!r} is not one of {', '.join(ALL_STATES)}")
    return state


def parse_status(value: str) -> str:
    """A state name in any case, or one of the original API's letters (:data:`STATUS_ALIASES`)."""
    raw = value.strip()
    state = STATUS_ALIASES.get(raw.lower()) if len(raw) == 1 else raw.upper()
    if state not in ALL_STATES:
        letters = ", ".join(f"{k}={v}" for k, v in STATUS_ALIASES.items())
        raise ValueError(
            f"unknown task status {value!r}; expected one of {', '.join(ALL_STATES)} "
            f"or a letter ({letters})"
        )
    return state
