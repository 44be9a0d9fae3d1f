"""History entry conditions (from :func:`tasktrail_api.domain.history.event_queries`) applied
in Python, to the entries of the messages the export reads.

The export reads whole messages by an index and filters their entries here, rather than
unwinding on the server, so that it can read in bounded keyset chunks. Only the operators
those conditions use exist here: equality, and ranges between values of one type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RANGES = {
    "$gte": lambda value, bound: value >= bound,
    "$gt": lambda value, bound: value > bound,
    "$lt": lambda value, bound: value < bound,
    "$lte": lambda value, bound: value <= bound,
}


def _at(entry: Mapping[str, Any], path: str) -> Any:
    """The value at ``events.<a>.<b>`` of one entry (``None`` where a step is missing)."""
    value: Any = entry
    for step in path.split(".")[1:]:
        value = value.get(step) if isinstance(value, Mapping) else None
    return value


def _in_range(value: Any, cond: Mapping[str, Any]) -> bool:
    """MongoDB compares within one type: a value of another type is out of every range."""
    return all(
        value is not None and type(value) is type(bound) and bool(RANGES[op](value, bound))
        for op, bound in cond.items()
    )


def entry_matches(entry: Mapping[str, Any], conditions: Mapping[str, Any]) -> bool:
    """Whether one entry meets every condition."""
    for path, cond in conditions.items():
        value = _at(entry, path)
        matched = _in_range(value, cond) if isinstance(cond, dict) else value == cond
        if not matched:
            return False
    return True
