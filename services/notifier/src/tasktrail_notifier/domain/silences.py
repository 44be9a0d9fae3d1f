"""Silences: mute a rule, a group key, or one key of one rule, until a time. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from tasktrail_shared.times import as_utc


def silenced(
    silences: Iterable[Mapping[str, Any]], org: str, rule_id: str, key: str, now: datetime
) -> bool:
    """Whether a silence of organisation ``org`` in force at ``now`` covers ``rule_id`` and
    ``key`` (a silence naming no rule covers every rule, naming no key every key)."""
    for silence in silences:
        if silence.get("org") != org or not _in_force(silence.get("until"), now):
            continue
        if silence.get("rule") not in (None, rule_id):
            continue
        if silence.get("key") in (None, key):
            return True
    return False


def _in_force(until: Any, now: datetime) -> bool:
    return isinstance(until, datetime) and as_utc(until) > now
