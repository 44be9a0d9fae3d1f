"""Seed 003's alert profiles as a catalog entry defines them: seven types, ``alarm``,
``threshold`` and ``kpi`` one profile at most; stored with only the types that name one."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from tasktrail_shared.catalog import definition_fields, profiles_shown


def test_profiles_are_stored_by_type_without_the_empty_ones() -> None:
    given = {"profiles": {"alarm": [79], "threshold": [96], "webhook": [265, "ops"], "kpi": []}}
    assert definition_fields(given) == {
        "profiles": {"alarm": [79], "threshold": [96], "webhook": [265, "ops"]}
    }
    assert definition_fields({"profiles": None}) == {"profiles": None}  # back to none


@pytest.mark.parametrize(
    "profiles",
    [
        {"alarm": [1, 2]},
        {"threshold": [1, 2]},
        {"kpi": [1, 2]},
        {"snmp": [263]},  # seed 003 has it; tasktrail has no SNMP channel
        {"email": [True]},
        {"email": [""]},
        {"email": list(range(101))},
    ],
)
def test_refused(profiles: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        definition_fields({"profiles": profiles})


def test_shown_keeps_known_types_in_order() -> None:
    stored = {"webhook": [2], "alarm": [1], "email": [], "other": [3]}
    assert list(profiles_shown(stored).items()) == [("alarm", [1]), ("webhook", [2])]
    assert profiles_shown(None) == {}
