"""The field contract of task and worker records: names, labels, storable values."""

from __future__ import annotations

from typing import Any

import pytest
from tasktrail_shared.fields import (
    INT64,
    MAX_DEPTH,
    SEED_LABELS,
    TASK_RESERVED,
    TASK_SETTABLE,
    TASK_TIME_FIELDS,
    WORKER_REPORTED,
    WORKER_SETTABLE,
    check_storable,
    is_label_name,
    is_label_value,
    is_task_field,
)


def test_the_sets_do_not_overlap_where_they_must_not() -> None:
    assert not TASK_SETTABLE & TASK_RESERVED
    assert TASK_TIME_FIELDS <= TASK_SETTABLE
    assert not set(SEED_LABELS) & (TASK_SETTABLE | TASK_RESERVED)
    assert {*WORKER_REPORTED, "status"} == WORKER_SETTABLE


@pytest.mark.parametrize("name", ["zone", "cidr_id", "a", "A_1", "x" * 64])
def test_label_names(name: str) -> None:
    assert is_label_name(name) and is_task_field(name)


@pytest.mark.parametrize(
    "name",
    ["1x", "_x", "a.b", "$x", "a-b", "x" * 65, "zone\n", "", "state", "name", "status", "uuid", 5],
)
def test_not_label_names(name: Any) -> None:
    assert not is_label_name(name)


def test_task_fields_are_the_settable_ones_and_labels() -> None:
    assert all(is_task_field(name) for name in TASK_SETTABLE)
    assert not any(is_task_field(name) for name in TASK_RESERVED)


@pytest.mark.parametrize(
    ("value", "ok"),
    [("x", True), (True, True), (INT64 - 1, True), (-INT64, True), (INT64, False),
     (1.5, True), (float("nan"), False), (None, False), ([1], False), ({"a": 1}, False)],
)  # fmt: skip
def test_label_values_are_scalars_an_index_can_use(value: Any, ok: bool) -> None:
    assert is_label_value(value) is ok


@pytest.mark.parametrize(
    "value",
    [None, True, "x\x00y", 0, -(2**63), 2**63 - 1, 1.5, [], {}, {"a": [1, {"b": None}]},
     {"ünïcode key": 1}],
)  # fmt: skip
def test_storable_values_pass_unchanged(value: Any) -> None:
    assert check_storable(value) is value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (2**63, "64 bits"),
        (-(2**63) - 1, "64 bits"),
        (float("inf"), "finite"),
        (float("nan"), "finite"),
        ({"$where": 1}, r"\$"),
        ({"a.b": 1}, "NUL"),
        ({"a\x00": 1}, "NUL"),
        ([{"ok": [{"$x": 1}]}], r"\$"),
        ({1: "x"}, "text"),
        ((1, 2), "unsupported"),
        (b"x", "unsupported"),
    ],
)
def test_unstorable_values_are_refused_with_the_reason(value: Any, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        check_storable(value)


def test_nesting_is_bounded() -> None:
    nested: Any = "leaf"
    for _ in range(MAX_DEPTH):
        nested = [nested]
    assert check_storable(nested) is nested
    with pytest.raises(ValueError, match="nested deeper"):
        check_storable([nested])
