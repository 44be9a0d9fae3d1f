"""Times as every service reads them: aware UTC datetimes between 1970 and 9999.

A time crosses a service boundary as an ISO 8601 string (records, command arguments) or, in
a query, as ISO 8601 or epoch seconds. Whatever the form, it becomes an aware UTC datetime
here, and one bound applies everywhere: years 1970 to 9999. Before 1970 is not a Celery
time, and past 9999 neither ``datetime`` nor BSON can hold it, so a value the API accepts is
one the projector can store.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator

MIN_YEAR = 1970
MAX_YEAR = 9999
MIN_TIME = datetime(MIN_YEAR, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(MAX_YEAR, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
MAX_EPOCH = MAX_TIME.replace(microsecond=0).timestamp()
"""The last whole epoch second a ``datetime`` (and so BSON) can hold. Not
``MAX_TIME.timestamp()``: a float that large rounds its microseconds up into year 10000."""
OUT_OF_RANGE = f"must be between {MIN_YEAR} and {MAX_YEAR}"


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already (as MongoDB stores it)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def in_range(moment: datetime) -> datetime:
    """``moment`` in UTC if it lies in years 1970 to 9999; ``ValueError`` otherwise."""
    try:
        utc = as_utc(moment)
    except OverflowError as exc:  # an offset pushes it past year 9999 or before year 1
        raise ValueError(OUT_OF_RANGE) from exc
    if not MIN_TIME <= utc <= MAX_TIME:
        raise ValueError(OUT_OF_RANGE)
    return utc


def is_epoch(value: object) -> bool:
    """True if ``value`` is a number of seconds since 1970 that a ``datetime`` can hold."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= MAX_EPOCH
    )


def from_epoch(value: float) -> datetime:
    """Epoch seconds as an aware UTC datetime; ``ValueError`` outside 1970 to 9999."""
    if not is_epoch(value):
        raise ValueError(f"{value!r} is not a time in seconds since 1970 ({OUT_OF_RANGE})")
    return datetime.fromtimestamp(value, UTC)


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time (``Z`` or an offset; none means UTC) as an aware UTC datetime."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"{text[:64]!r} is not an ISO 8601 time") from exc
    return in_range(moment)


def parse_time(value: Any) -> datetime:
    """A datetime, an ISO 8601 string, or epoch seconds (a number, or digits in a string,
    as a query parameter carries them), as an aware UTC datetime in years 1970 to 9999."""
    if isinstance(value, datetime):
        return in_range(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return from_epoch(value)
    if not isinstance(value, str):
        raise ValueError(f"a time is ISO 8601 or epoch seconds, not {type(value).__name__}")
    return from_epoch(float(value)) if _is_number(value) else parse_iso(value)


def parse_zoned_time(value: Any) -> datetime:
    """Like :func:`parse_time`, but a datetime or ISO 8601 string must say its offset: where
    "which time zone?" must have an answer (a task's ETA). Epoch seconds are UTC by nature."""
    moment = value
    if isinstance(value, str) and not _is_number(value):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValueError(f"{value[:64]!r} is not an ISO 8601 time") from exc
    if isinstance(moment, datetime) and moment.utcoffset() is None:
        raise ValueError("give a time zone, e.g. 2030-01-02T03:04:05Z or +02:00")
    return parse_time(moment)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


Time = Annotated[datetime, BeforeValidator(parse_time)]
"""A pydantic field type: any form :func:`parse_time` reads, held as aware UTC."""
ZonedTime = Annotated[datetime, BeforeValidator(parse_zoned_time)]
"""A pydantic field type: any form :func:`parse_zoned_time` reads, held as aware UTC."""


def check_range(after: datetime | None, before: datetime | None, name: str = "") -> None:
    """A list filter's ``[after, before)`` must not be reversed: ``after`` <= ``before``."""
    if after is not None and before is not None and as_utc(after) > as_utc(before):
        prefix = f"{name}_" if name else ""
        raise ValueError(f"{prefix}after must not be later than {prefix}before")


def bounded(moment: datetime | None) -> datetime | None:
    """For pydantic validators of optional times: ``None`` passes, a time must be in range."""
    return None if moment is None else in_range(moment)
