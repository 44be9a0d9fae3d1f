"""Task statuses as clients give them: Celery state names in any case, or the original API's
letters."""

from __future__ import annotations

from tasktrail_shared import states

STATUS_ALIASES = {
    "p": states.PENDING,
    "r": states.RECEIVED,
    "t": states.STARTED,
    "s": states.SUCCESS,
    "f": states.FAILURE,
    "v": states.REVOKED,
    "y": states.RETRY,
    "j": states.REJECTED,
}
"""The one-letter statuses of the original API (``"p"``, ``"s"``...) and the states they mean."""
UNFINISHED = tuple(s for s in states.ALL_STATES if s not in states.READY_STATES)
"""States a task may still leave: what ``sync`` looks up in the result backend."""


def parse_status(value: str) -> str:
    """A Celery state name in any case, or one of the original API's letters."""
    raw = value.strip()
    state = STATUS_ALIASES.get(raw.lower()) if len(raw) == 1 else raw.upper()
    if state not in states.ALL_STATES:
        letters = ", ".join(f"{k}={v}" for k, v in STATUS_ALIASES.items())
        raise ValueError(
            f"unknown task status {value!r}; expected one of {', '.join(states.ALL_STATES)} "
            f"or a letter ({letters})"
        )
    return state
