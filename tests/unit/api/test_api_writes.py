"""Write bodies become event payloads the projector accepts; when a write has projected."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError
from tasktrail_api.domain import writes
from tasktrail_api.domain.writes import Change
from tasktrail_projector.domain.own_events import decode_record
from tasktrail_shared import own_events
from tasktrail_shared.fields import TASK_SETTABLE

SEED_CREATE = {
    "name": "function name",
    "uuid": "2acef619-cb56-4f7b-9777-936dc5cb371b",
    "args": '["ebe9105c", [{"packet": "91242d1a", "ports": [{"number": 8800}]}], None]',
    "kwargs": "",
    "result": "",
    "received": "2022-08-30T10:43:46.758455Z",
    "started": "2022-08-30T10:43:46.758469Z",
    "succeeded": "2022-08-30T10:43:46.758474Z",
    "retries": 0,
    "runtime": 1.14053136,
    "exception": "no exception",
    "traceback": "no error",
    "worker": "woker_1",
    "root_id": "05baf5b4-090a-42de-9f92-766512fd3d9e",
    "parent_id": "e46aeb77-5b92-4b51-9f7f-fb734f705763",
}


def test_the_seed_create_body_is_a_valid_record() -> None:
    body = writes.TaskCreate.model_validate({**SEED_CREATE, "status": "p", "asn_number": 1})
    fields = body.payload_fields(keep_nulls=False)
    assert fields["state"] == "PENDING" and fields["asn_number"] == 1
    assert fields["received"] == "2022-08-30T10:43:46.758455+00:00"
    assert "uuid" not in fields and "status" not in fields
    payload = writes.payload(
        own_events.TASK_RECORDED, at=1.0, actor="a", uuid=str(body.uuid), fields=fields
    )
    record = decode_record(own_events.TASK_RECORDED, payload, "e1", "default")  # projector's check
    assert record.data["fields"]["state"] == "PENDING"


def test_labels_are_flat_fields_and_null_removes_one_in_a_patch() -> None:
    body = writes.TaskPatch.model_validate({"labels": {"zone": "eu", "old": None}, "cidr_id": "c"})
    assert body.payload_fields(keep_nulls=True) == {"zone": "eu", "old": None, "cidr_id": "c"}
    assert writes.TaskPatch.model_validate({"name": None}).payload_fields(keep_nulls=True) == {
        "name": None
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "x"}, "status"),
        ({"received": "yesterday"}, "received"),
        ({"received": "1969-12-31T00:00:00Z"}, "received"),
        ({"runtime": -1}, "runtime"),
        ({"retries": 2**64}, "retries"),
        ({"args": {"$where": 1}}, "args"),
        ({"kwargs": {"a.b": 1}}, "kwargs"),
        ({"result": 2**70}, "result"),
        ({"labels": {"state": "x"}}, "labels"),
        ({"labels": {"1x": "x"}}, "labels"),
        ({"labels": {"x": [1]}}, "labels.x"),
        ({"uuid": "a/b"}, "uuid"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_bad_bodies_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        writes.TaskCreate.model_validate(body)
    assert ".".join(str(p) for p in info.value.errors()[0]["loc"]).startswith(field)


def test_a_patch_changes_something() -> None:
    with pytest.raises(ValidationError, match="at least one"):
        writes.TaskPatch.model_validate({})
    with pytest.raises(ValidationError, match="at least one"):
        writes.WorkerPatch.model_validate({})


@pytest.mark.parametrize(
    ("raw", "ok"), [(0, True), (1, True), (True, True), (2, False), ("maybe", False)]
)
def test_worker_status_is_a_flag(raw: object, ok: bool) -> None:
    if ok:
        body = writes.WorkerCreate.model_validate({"name": "celery@a", "status": raw})
        assert body.payload_fields(keep_nulls=False) == {"status": bool(raw)}
    else:
        with pytest.raises(ValidationError):
            writes.WorkerCreate.model_validate({"name": "celery@a", "status": raw})


def test_worker_fields_are_the_contract_s() -> None:
    body = writes.WorkerPatch.model_validate({"processed": 5, "loadavg": [0.1, 0.2, 0.3]})
    fields = body.payload_fields(keep_nulls=True)
    payload = writes.payload(
        own_events.WORKER_AMENDED, at=1.0, actor="a", hostname="h", fields=fields
    )
    assert decode_record(own_events.WORKER_AMENDED, payload, "e", "d").data["fields"] == fields


T = datetime(2022, 8, 30, 10, 43, 46, 758000, tzinfo=UTC)


def applied(doc: dict[str, Any] | None, change: Change, fields: dict[str, Any]) -> bool:
    return writes.applied(doc, change, "e1", fields, TASK_SETTABLE)


def test_applied_when_the_document_keeps_our_event_or_reads_as_written() -> None:
    doc = {"_id": "t", "deleted": False, "name": "n", "received": T, "labels": {"zone": "eu"}}
    assert applied(doc, Change.RECORDED, {"name": "n", "received": T.isoformat()})
    assert applied(doc, Change.AMENDED, {"zone": "eu"})
    assert not applied(doc, Change.AMENDED, {"name": "other"})
    kept = {**doc, "_amend": {"name": {"id": "e1", "value": "x"}}}
    assert applied(kept, Change.AMENDED, {"name": "other"})
    assert not applied(None, Change.RECORDED, {})
    assert not applied({**doc, "deleted": True}, Change.RECORDED, {"name": "n"})
    assert applied(None, Change.DELETED, {})
    assert applied({"deleted": True}, Change.DELETED, {})
    assert not applied(doc, Change.DELETED, {})


def test_a_reconciliation_counts_from_when_it_was_decided() -> None:
    doc = {"_records": {"reconciled": {"at": 10.0, "id": "r"}}}
    assert writes.reconciled_since(doc, 9.5)
    assert not writes.reconciled_since(doc, 10.5)
    assert not writes.reconciled_since({"_records": {}}, 0)
    assert not writes.reconciled_since(None, 0)
