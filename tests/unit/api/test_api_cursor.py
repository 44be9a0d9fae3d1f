"""The list cursor: a round trip keeps each value's type; foreign tokens are refused."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from tasktrail_api.domain import cursor

NOW = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [None, NOW, datetime(2024, 1, 1, 12, 0, 0, 123000, tzinfo=UTC), 1.25, 7, "celery.x", 'a"b'],
)
def test_a_cursor_round_trips(value: object) -> None:
    after = cursor.Cursor("-received", value, "id-1")
    assert cursor.decode_cursor(cursor.encode_cursor(after), "-received") == after


@pytest.mark.parametrize("token", ["", "nope", "e30", "W10", "eyJzIjoxfQ"])
def test_foreign_cursors_are_refused(token: str) -> None:
    with pytest.raises(cursor.BadCursor):
        cursor.decode_cursor(token, "-timestamp")


def test_a_cursor_belongs_to_its_sort() -> None:
    token = cursor.encode_cursor(cursor.Cursor("name", "a", "1"))
    with pytest.raises(cursor.BadCursor, match="sort='name'"):
        cursor.decode_cursor(token, "-name")
