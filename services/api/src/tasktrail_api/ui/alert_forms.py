"""The Alerts page's forms and what its tables print. Pure.

A browser sends forms, not JSON bodies: the filter and params of a rule and the configuration
of a channel come as JSON typed into text areas, numbers as text, and a silence as a length
of time from now (or an exact time with its offset). This turns them into what the alerts use
cases take; the use cases, shared with the REST routes, still check everything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import TypeAdapter, ValidationError
from tasktrail_shared.times import ZonedTime

from tasktrail_api.domain.errors import BadRequest
from tasktrail_api.ui.present import moment

Doc = dict[str, Any]
NAME_MAX = 200
JSON_MAX = 50_000
"""Characters of JSON a text area may hold (a channel's config may carry a PEM bundle)."""
SILENCE_SPANS = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1),
                 "4h": timedelta(hours=4), "1d": timedelta(days=1),
                 "7d": timedelta(days=7), "30d": timedelta(days=30)}  # fmt: skip
"""How long a silence made from the page lasts, unless the form gives an exact ``until``."""
RULE_NUMBERS = ("for", "renotify", "cooldown")


@dataclass(frozen=True, slots=True)
class Button:
    """An alerts button that asks for confirmation (what ``confirm.html`` shows)."""

    name: str
    """``data-action`` on the button."""
    label: str


DELETE_RULE = Button("alert-delete-rule", "Delete rule")
DELETE_CHANNEL = Button("alert-delete-channel", "Delete channel")


def json_object(raw: str | None, field: str) -> Doc:
    """A text area's JSON object; empty is ``{}``."""
    text = (raw or "").strip()
    if not text:
        return {}
    if len(text) > JSON_MAX:
        raise BadRequest.field(field, f"at most {JSON_MAX} characters")
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise BadRequest.field(field, f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest.field(field, 'a JSON object, e.g. {"name": "billing.*"}')
    return value


def named(form: Mapping[str, str]) -> str:
    name = (form.get("name") or "").strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise BadRequest.field("name", f"1 to {NAME_MAX} characters")
    return name


def channel_input(form: Mapping[str, str]) -> tuple[str, str, Doc]:
    """Name, type and configuration of a new channel (the use case checks type and config)."""
    return named(form), (form.get("type") or "").strip(), json_object(form.get("config"), "config")


def rule_body(form: Mapping[str, str], channels: Iterable[str]) -> Doc:
    """A new rule's body (``RuleSpec``'s fields) from its form; ``channels`` are the boxes
    ticked. Numbers stay text: pydantic reads "30" as 30.0 and says what is wrong otherwise."""
    body: Doc = {
        "name": named(form),
        "kind": (form.get("kind") or "").strip(),
        "filter": json_object(form.get("filter"), "filter"),
        "params": json_object(form.get("params"), "params"),
        "channels": list(channels),
    }
    for field in ("app", *RULE_NUMBERS):
        raw = (form.get(field) or "").strip()
        if raw:
            body[field] = raw
    return body


_ZONED: TypeAdapter[datetime] = TypeAdapter(ZonedTime)


def silence_until(form: Mapping[str, str], now: datetime) -> datetime:
    """When a silence from the page ends: the exact ``until`` (ISO 8601 with an offset) if
    given, else ``now`` plus the chosen span."""
    exact = (form.get("until") or "").strip()
    if exact:
        try:
            return _ZONED.validate_python(exact)
        except ValidationError:
            example = "2030-01-31T18:00+01:00"
            raise BadRequest.field("until", f"ISO 8601 with an offset, e.g. {example}") from None
    span = SILENCE_SPANS.get(form.get("duration") or "")
    if span is None:
        raise BadRequest.field("duration", f"one of {', '.join(SILENCE_SPANS)}")
    return now + span


def optional(form: Mapping[str, str], field: str, limit: int = 500) -> str | None:
    """A text field left empty as ``None``; one longer than ``limit`` refused."""
    value = (form.get(field) or "").strip()
    if len(value) > limit:
        raise BadRequest.field(field, f"at most {limit} characters")
    return value or None


def in_force(silence: Mapping[str, Any], now: datetime) -> bool:
    until = moment(silence.get("until"))
    return until is not None and until > now


def muted_until(silences: Iterable[Mapping[str, Any]], now: datetime) -> dict[str, str]:
    """Rule id -> the latest end of the silences in force that mute the whole rule (a rule
    with a key silenced is not muted: its other keys still notify)."""
    muted: dict[str, str] = {}
    for s in silences:
        rule = s.get("rule")
        if rule is None or s.get("key") is not None or not in_force(s, now):
            continue
        known, end = moment(muted.get(str(rule))), moment(s["until"])
        if known is None or (end is not None and end > known):
            muted[str(rule)] = str(s["until"])
    return muted


def compact(value: Mapping[str, Any] | None) -> str:
    """A filter, params or config as one line of JSON, without the parts left unset (a rule's
    filter holds every part, most of them null); empty when nothing is set."""
    given = {k: v for k, v in (value or {}).items() if v not in (None, [], {})}
    return json.dumps(given, sort_keys=True) if given else ""
