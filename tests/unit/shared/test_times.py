"""Times as every service reads them: aware UTC, years 1970 to 9999."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from tasktrail_shared import times
from tasktrail_shared.times import (
    MAX_EPOCH,
    MAX_TIME,
    MIN_TIME,
    Time,
    ZonedTime,
    as_utc,
    bounded,
    check_range,
    in_range,
    is_epoch,
    parse_iso,
    parse_time,
)

T = datetime(2022, 8, 30, 10, 43, 46, 758455, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2022-08-30T10:43:46.758455Z",
        "2022-08-30T12:43:46.758455+02:00",
        "2022-08-30T10:43:46.758455",  # no offset: UTC
        " 2022-08-30T10:43:46.758455Z ",
        T.timestamp(),
        str(T.timestamp()),
        T,
        T.replace(tzinfo=None),
        T.astimezone(timezone(timedelta(hours=-5))),
    ],
)
def test_every_form_becomes_the_same_aware_utc_time(value: Any) -> None:
    moment = parse_time(value)
    assert moment == T and moment.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:30:00+01:00",  # 1969 in UTC
        "9999-12-31T23:00:00-02:00",  # year 10000 in UTC
        -1,
        MAX_EPOCH + 1,
        1661856226000,  # milliseconds are not seconds
        float("nan"),
        float("inf"),
        "nan",
        "tomorrow",
        "",
        True,
        None,
        [2022],
    ],
)
def test_out_of_range_or_unreadable_times_are_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        parse_time(value)


def test_the_bounds_are_inclusive() -> None:
    assert parse_iso("1970-01-01T00:00:00Z") == MIN_TIME
    assert parse_iso("9999-12-31T23:59:59.999999Z") == MAX_TIME
    assert is_epoch(0) and is_epoch(MAX_EPOCH) and not is_epoch(True)
    assert in_range(MAX_TIME) == MAX_TIME and bounded(None) is None
    with pytest.raises(ValueError, match="between 1970 and 9999"):
        bounded(datetime(1969, 12, 31, tzinfo=UTC))


def test_naive_means_utc() -> None:
    assert as_utc(datetime(2022, 1, 1)) == datetime(2022, 1, 1, tzinfo=UTC)


def test_a_zoned_time_must_say_its_offset() -> None:
    class Body(BaseModel):
        eta: ZonedTime
        at: Time

    body = Body.model_validate({"eta": "2030-01-02T05:04:05+02:00", "at": "2030-01-02T03:04:05"})
    assert body.eta == body.at == datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert Body.model_validate({"eta": 1_900_000_000, "at": 0}).eta.tzinfo is UTC
    with pytest.raises(ValidationError, match="give a time zone"):
        Body.model_validate({"eta": "2030-01-02T03:04:05", "at": 0})
    with pytest.raises(ValidationError, match="give a time zone"):
        Body.model_validate({"eta": datetime(2030, 1, 2), "at": 0})


def test_a_range_is_not_reversed() -> None:
    check_range(T, T)
    check_range(None, T)
    check_range(T, None)
    check_range(T, T + timedelta(seconds=1))
    with pytest.raises(ValueError, match=r"^received_after must not be later than received_before"):
        check_range(T + timedelta(seconds=1), T, "received")


def test_the_last_epoch_second_is_a_time_and_the_next_is_not() -> None:
    assert times.from_epoch(times.MAX_EPOCH).year == times.MAX_YEAR
    assert times.is_epoch(times.MAX_EPOCH)
    assert not times.is_epoch(times.MAX_EPOCH + 1)
