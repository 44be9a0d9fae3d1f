"""States: one meaning of unfinished, and the names a state may be given by."""

from __future__ import annotations

import pytest
from tasktrail_shared.states import (
    ALL_STATES,
    READY_STATES,
    STATUS_ALIASES,
    UNFINISHED,
    parse_state,
    parse_status,
)


def test_unfinished_is_every_state_but_the_ready_ones() -> None:
    assert set(UNFINISHED) == set(ALL_STATES) - READY_STATES
    assert UNFINISHED == ("PENDING", "RECEIVED", "STARTED", "REJECTED", "RETRY")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("p", "PENDING"), ("r", "RECEIVED"), ("t", "STARTED"), ("s", "SUCCESS"), ("f", "FAILURE"),
     ("v", "REVOKED"), ("y", "RETRY"), ("j", "REJECTED"), ("S", "SUCCESS"), (" retry ", "RETRY"),
     ("Failure", "FAILURE")],
)  # fmt: skip
def test_statuses_are_state_names_or_letters(raw: str, expected: str) -> None:
    assert parse_status(raw) == expected


def test_every_letter_means_a_state() -> None:
    assert set(STATUS_ALIASES.values()) == set(ALL_STATES)


@pytest.mark.parametrize("raw", ["x", "", "DONE", "ss"])
def test_unknown_statuses_are_refused_listing_what_is_known(raw: str) -> None:
    with pytest.raises(ValueError, match="p=PENDING"):
        parse_status(raw)


def test_a_state_is_a_name_only() -> None:
    assert parse_state("success") == "SUCCESS"
    for raw in ("s", None, 1, "DONE"):
        with pytest.raises(ValueError, match="is not one of"):
            parse_state(raw)
