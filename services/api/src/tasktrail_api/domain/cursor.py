"""The opaque ``cursor`` of a task list: the sort it belongs to, and the last row's sort value
and ``_id``, as unpadded URL-safe base64 of a small JSON object.

Values keep their BSON type through the round trip (a datetime stays a datetime, a float a
float), so the next page's range compares like with like.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

VALUE_KINDS: dict[str, type | tuple[type, ...]] = {"runtime": (int, float), "name": str}
"""What a sort key's values are (a time's: a datetime): a cursor holding anything else was
not made by this API."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: the sort it belongs to, and the last row's sort value and ``_id``."""

    sort: str
    value: Any
    id: str


class BadCursor(ValueError):
    """The cursor was not made by this API for this sort."""


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return {"t": round(moment.timestamp() * 1000)}
    if isinstance(value, float):
        return {"f": repr(value)}
    if value is None or isinstance(value, str | int):
        return value
    return {"s": str(value)}


def _decode_tagged(tag: str, inner: Any) -> Any:
    if tag == "t" and isinstance(inner, int):
        return datetime.fromtimestamp(inner / 1000, UTC)
    if tag == "f" and isinstance(inner, str):
        return float(inner)
    if tag == "s" and isinstance(inner, str):
        return inner
    raise BadCursor("unreadable value")


def _decode_value(raw: Any) -> Any:
    if isinstance(raw, dict) and len(raw) == 1:
        ((tag, inner),) = raw.items()
        return _decode_tagged(tag, inner)
    if raw is None or (isinstance(raw, str | int) and not isinstance(raw, bool)):
        return raw
    raise BadCursor("unreadable value")


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps(
        {"s": cursor.sort, "v": _encode_value(cursor.value), "i": cursor.id},
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, sort: str) -> Cursor:
    """The cursor in ``token``; :class:`BadCursor` unless it was made for ``sort``."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(raw, dict) or not isinstance(raw.get("i"), str):
            raise BadCursor("not a cursor")
        value = _decode_value(raw.get("v"))
    except (binascii.Error, ValueError, UnicodeDecodeError, OverflowError, OSError) as exc:
        raise BadCursor("not a cursor from this API") from exc
    if raw.get("s") != sort:
        raise BadCursor(f"this cursor belongs to sort={raw.get('s')!r}, not sort={sort!r}")
    kind = VALUE_KINDS.get(sort.removeprefix("-"), datetime)
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise BadCursor("not a cursor from this API")
    return Cursor(sort, value, raw["i"])


def cursor_after(doc: Mapping[str, Any], key: str, sort: str) -> str:
    """The cursor of the page that follows ``doc`` in a list sorted by ``sort`` (on ``key``)."""
    return encode_cursor(Cursor(sort, doc.get(key), str(doc["_id"])))
