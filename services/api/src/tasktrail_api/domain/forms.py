"""A request body sent as JSON or as an HTML form, read into the fields of one object. Pure.

Seed 001 runs tasks from HTML forms (``<form method=POST>`` with hidden inputs, one
``task_arguments[]`` per argument) and from scripts posting JSON. Its curl example sends
form fields under a JSON content type (``--data-urlencode`` with ``Content-Type:
application/json``) and with spaces around ``=``; that body is read as the form it is.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from tasktrail_api.domain.errors import BadRequest

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
LIST_SUFFIX = "[]"
MAX_FIELDS = 1000


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def read_body(content_type: str | None, raw: bytes, lists: frozenset[str]) -> dict[str, Any]:
    """The object a body holds; ``lists`` are the fields a form may repeat (``name[]`` or
    ``name``), which become lists. An empty body is an empty object."""
    if not raw.strip():
        return {}
    kind = media_type(content_type)
    if kind == FORM:
        return form_fields(raw, lists)
    if kind not in (JSON, "") and not kind.endswith("+json"):
        raise BadRequest.field("body", f"send {JSON} or an HTML form ({FORM}), not {kind}")
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        if _looks_like_a_form(raw):
            return form_fields(raw, lists)
        raise BadRequest.field("body", f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise BadRequest.field("body", "must be a JSON object")
    return value


def _looks_like_a_form(raw: bytes) -> bool:
    text = raw.decode("utf-8", errors="replace").strip()
    return "=" in text and not text.startswith(("{", "["))


def form_fields(raw: bytes, lists: frozenset[str]) -> dict[str, Any]:
    """A form's fields; names and single values are trimmed (the seed's example writes
    ``customer = acme``), values of repeated fields are kept as given."""
    try:
        pairs = parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=True,
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest.field("body", f"not a valid form: {exc}") from None
    fields: dict[str, Any] = {}
    for raw_name, value in pairs:
        name = raw_name.strip().removesuffix(LIST_SUFFIX)
        if name in lists:
            fields.setdefault(name, []).append(value)
        elif name in fields:
            raise BadRequest.field(name, "given more than once")
        else:
            fields[name] = value.strip()
    return fields
