"""Times as the API reads and writes them: aware UTC, within the years BSON and our
contracts accept."""

from __future__ import annotations

from datetime import UTC, datetime

MIN_YEAR = 1970
MAX_YEAR = 9999


def as_utc(value: datetime) -> datetime:
    """MongoDB stores UTC; a naive datetime (client without ``tz_aware``) is UTC too."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def in_year_range(value: datetime) -> datetime:
    """``value`` as given, if its year (in UTC) is one the read models can hold."""
    try:
        year = as_utc(value).year
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 west of it
        year = 0
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise ValueError(f"must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


def optional_in_year_range(value: datetime | None) -> datetime | None:
    return None if value is None else in_year_range(value)
