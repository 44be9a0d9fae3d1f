"""The payload models of tasktrail's own events check fields with the field contract."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from tasktrail_shared import own_events

AT = 1_800_000_000.0


def _task(event_type: str, fields: dict[str, Any]) -> Any:
    return own_events.PAYLOADS[event_type].model_validate(
        {"at": AT, "actor": "a", "uuid": "t", "fields": fields}
    )


def test_a_task_record_carries_settable_fields_and_labels() -> None:
    fields = {
        "state": "success",
        "received": "2022-08-30T10:43:46Z",
        "args": {"deep": [1, {"x": None}]},
        "zone": "eu",
        "asn_number": 64500,
    }
    assert _task(own_events.TASK_RECORDED, fields).fields == fields


def test_an_amendment_may_clear_anything() -> None:
    fields = {"state": None, "received": None, "zone": None, "name": None}
    assert _task(own_events.TASK_AMENDED, fields).fields == fields


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"status": "x"}, "cannot be set on a task"),
        ({"children": []}, "cannot be set on a task"),
        ({"a.b": 1}, "cannot be set on a task"),
        ({"received": 5}, "received: must be an ISO 8601 string"),
        ({"received": "yesterday"}, "ISO 8601"),
        ({"received": "1969-12-31T23:59:59Z"}, "between 1970 and 9999"),
        ({"state": "DONE"}, "is not one of"),
        ({"zone": [1]}, "zone: a label is"),
        ({"args": {"$x": 1}}, r"args: object key"),
        ({"retries": 2**64}, "64 bits"),
    ],
)
def test_a_task_record_breaking_the_contract_is_refused(
    fields: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        _task(own_events.TASK_AMENDED, fields)


@pytest.mark.parametrize(
    ("fields", "reason"),
    [({"state": 1}, "cannot be set on a worker"), ({"status": 1}, "true or false"),
     ({"loadavg": [float("nan")]}, "finite")],
)  # fmt: skip
def test_a_worker_record_breaking_the_contract_is_refused(
    fields: dict[str, Any], reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        own_events.WorkerAmended.model_validate(
            {"at": AT, "actor": "a", "hostname": "h", "fields": fields}
        )


@pytest.mark.parametrize("at", [-1.0, float("inf"), True, "1800000000"])
def test_at_is_a_valid_epoch_time(at: Any) -> None:
    with pytest.raises(ValidationError):
        own_events.TaskDeleted.model_validate({"at": at, "actor": "a", "uuid": "t"})
