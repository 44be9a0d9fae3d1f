"""The list cursor: a round trip keeps each value's type; foreign tokens are refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tasktrail_api.domain import cursor

NOW = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sort", "value"),
    [("-received", None), ("-received", NOW),
     ("received", datetime(2024, 1, 1, 12, 0, 0, 123000, tzinfo=UTC)), ("-runtime", 1.25),
     ("runtime", 7), ("name", "celery.x"), ("-name", 'a"b')],
)  # fmt: skip
def test_a_cursor_round_trips(sort: str, value: object) -> None:
    after = cursor.Cursor(sort, value, "id-1")
    assert cursor.decode_cursor(cursor.encode_cursor(after), sort) == after


@pytest.mark.parametrize(("sort", "value"), [("-received", 7), ("runtime", "x"), ("name", NOW)])
def test_a_value_of_another_kind_than_the_sorts_is_refused(sort: str, value: object) -> None:
    """A forged cursor must not reach the reads (a time window from a number...)."""
    with pytest.raises(cursor.BadCursor):
        cursor.decode_cursor(cursor.encode_cursor(cursor.Cursor(sort, value, "1")), sort)


@pytest.mark.parametrize("token", ["", "nope", "e30", "W10", "eyJzIjoxfQ"])
def test_foreign_cursors_are_refused(token: str) -> None:
    with pytest.raises(cursor.BadCursor):
        cursor.decode_cursor(token, "-timestamp")


def test_a_cursor_belongs_to_its_sort() -> None:
    token = cursor.encode_cursor(cursor.Cursor("name", "a", "1"))
    with pytest.raises(cursor.BadCursor, match="sort='name'"):
        cursor.decode_cursor(token, "-name")
