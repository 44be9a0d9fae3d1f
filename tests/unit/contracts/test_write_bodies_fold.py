"""Every task and worker body the API accepts is a record the projector applies field for field.

Bodies are generated for the API's request models (``TaskCreate``, ``TaskPatch``,
``WorkerCreate``, ``WorkerPatch``), boundary values included. A body the API refuses says
nothing here; a body it accepts becomes a record payload (the shared payload models), travels
as a stream message, is decoded by the projector (no dead letter) and folded into a fresh
document, which must hold every field the body gave (no silent drop).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from tasktrail_api.domain import writes
from tasktrail_projector.domain.messages import decode_message
from tasktrail_projector.domain.own_events import Record, to_ms
from tasktrail_shared import own_events
from tasktrail_shared.fields import (
    SEED_LABELS,
    TASK_RESERVED,
    TASK_SETTABLE,
    TASK_TIME_FIELDS,
    WORKER_REPORTED,
)
from tasktrail_shared.states import ALL_STATES, PENDING, STATUS_ALIASES
from tasktrail_shared.stream_message import own_event
from tasktrail_shared.times import parse_iso

from tests.unit.projector.replay import fold

AT = 1_800_000_000.0
SUBJECT = "t1"
HOST = "celery@h"

# --- values, valid and at the edges -----------------------------------------------------------

texts = st.text(max_size=12)
big_ints = st.integers(min_value=-(2**64), max_value=2**64)
edge_ints = st.sampled_from([0, -1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1])
numbers = st.one_of(
    st.integers(min_value=-1000, max_value=1000),
    edge_ints,
    big_ints,
    st.floats(allow_nan=True, allow_infinity=True),
)
keys = st.one_of(texts, st.sampled_from(["$where", "a.b", "x\x00", "_id", "ok"]))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, texts),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=3)),
    max_leaves=8,
)
zones = st.sampled_from([UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-12))])
moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=zones
)
edge_times = st.sampled_from(
    [
        "1970-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59.999999Z",
        "9999-12-31T23:59:59-01:00",
        "2022-08-30T10:43:46.758455Z",
        "2022-08-30T10:43:46",
        "2022-08-30",
        "yesterday",
        "",
    ]
)
times = st.one_of(
    moments.map(datetime.isoformat),
    edge_times,
    st.floats(min_value=-1e12, max_value=1e12),
    st.integers(min_value=-1, max_value=2**34),
)
statuses = st.one_of(
    st.sampled_from([*STATUS_ALIASES, *(s.upper() for s in STATUS_ALIASES)]),
    st.sampled_from(ALL_STATES).map(lambda s: s.lower()),
    st.sampled_from(ALL_STATES),
    texts,
)
label_names = st.one_of(
    st.from_regex(r"\A[A-Za-z][A-Za-z0-9_]{0,8}\Z"),
    st.sampled_from(sorted(TASK_SETTABLE | TASK_RESERVED | set(SEED_LABELS))),
    st.sampled_from(["1x", "a.b", "$x", "x" * 65, "zone\n", ""]),
)
label_values = st.one_of(st.none(), st.booleans(), numbers, texts, st.lists(texts, max_size=1))


def _maybe_null(values: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), values)


TASK_VALUES: dict[str, st.SearchStrategy[Any]] = {
    **{name: _maybe_null(texts) for name in ("name", "worker", "root_id", "parent_id", "queue")},
    **{name: _maybe_null(texts) for name in ("exchange", "routing_key", "eta", "expires")},
    **{name: _maybe_null(texts) for name in ("exception", "traceback")},
    **{name: _maybe_null(times) for name in sorted(TASK_TIME_FIELDS)},
    **{name: json_values for name in ("args", "kwargs", "result")},
    "status": _maybe_null(statuses),
    "retries": _maybe_null(numbers),
    "runtime": _maybe_null(numbers),
    **{name: _maybe_null(texts) for name in SEED_LABELS[:3]},
    "asn_number": _maybe_null(st.one_of(numbers, texts)),
    "labels": _maybe_null(st.dictionaries(label_names, label_values, max_size=3)),
}
WORKER_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "status": _maybe_null(st.one_of(st.booleans(), st.integers(-1, 2), texts)),
    **{name: _maybe_null(numbers) for name in ("pid", "freq", "active", "processed")},
    "loadavg": _maybe_null(st.lists(numbers, max_size=4)),
    **{name: _maybe_null(texts) for name in ("sw_ident", "sw_ver", "sw_sys")},
}


def bodies(values: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A few of the model's fields at a time: each with any value its strategy gives."""
    return st.lists(st.sampled_from(sorted(values)), min_size=1, max_size=4, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({name: values[name] for name in names})
    )


def accepted(model: type[BaseModel], body: dict[str, Any]) -> Any:
    """The API's validated body; a body the API refuses is no case for this property."""
    try:
        return model.model_validate(body)
    except ValidationError:
        reject()


# --- the record's journey: payload, stream message, projector -------------------------------


def projected(event_type: str, **values: Any) -> Record:
    """The record the projector decodes from the message the API would publish."""
    payload = writes.payload(event_type, at=AT, actor="tester", **values)
    message = own_event(app="default", type=event_type, payload=payload, source="t", id="e1")
    decoded = decode_message(message.headers(), message.data)  # raises: a dead letter
    [record] = decoded.records
    return record


def same(stored: Any, given: Any) -> bool:
    """Equal as JSON, so that ``1`` and ``True`` or ``1`` and ``1.0`` are told apart."""
    return json.dumps(stored, sort_keys=True) == json.dumps(given, sort_keys=True)


def check_task_field(doc: dict[str, Any], name: str, value: Any) -> None:
    if name in TASK_TIME_FIELDS:
        expected = None if value is None else to_ms(parse_iso(value))
        assert doc[name] == expected, (name, value, doc[name])
    elif name == "state":
        assert doc["state"] == (PENDING if value is None else value)  # null: events decide
    elif name in TASK_SETTABLE:
        assert same(doc[name], value), (name, value, doc[name])
    elif value is None:
        assert name not in doc["labels"], (name, doc["labels"])
    else:
        assert same(doc["labels"].get(name), value), (name, value, doc["labels"])
        if name in SEED_LABELS:
            assert same(doc[name], value)


def check_task_fold(event_type: str, fields: dict[str, Any]) -> None:
    """The record of ``event_type`` carries exactly ``fields``, and the task it folds into
    holds each of them as the API was given it."""
    record = projected(event_type, uuid=SUBJECT, fields=fields)
    assert set(record.data["fields"]) == set(fields)
    doc = fold([[record]])[0][SUBJECT]
    for name, value in fields.items():
        check_task_field(doc, name, value)


SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.filter_too_much]
)


@SETTINGS
@given(body=bodies(TASK_VALUES), uuid=_maybe_null(st.sampled_from([SUBJECT, "a/b", "", " x"])))
def test_every_task_body_the_api_accepts_is_created_field_for_field(
    body: dict[str, Any], uuid: str | None
) -> None:
    create = accepted(writes.TaskCreate, {**body, "uuid": uuid} if uuid else body)
    fields = create.payload_fields(keep_nulls=False)
    check_task_fold(own_events.TASK_RECORDED, fields)


@SETTINGS
@given(body=bodies(TASK_VALUES))
def test_every_task_patch_the_api_accepts_is_amended_field_for_field(
    body: dict[str, Any],
) -> None:
    patch = accepted(writes.TaskPatch, body)
    fields = patch.payload_fields(keep_nulls=True)
    check_task_fold(own_events.TASK_AMENDED, fields)


def check_worker(doc: dict[str, Any], fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if name == "status":
            declared = doc["declared"]  # a declared online (true) or offline (false)
            assert (None if declared is None else declared["online"]) is value
        else:
            assert name in WORKER_REPORTED and same(doc[name], value), (name, value, doc[name])


@SETTINGS
@given(body=bodies(WORKER_VALUES), patch=st.booleans())
def test_every_worker_body_the_api_accepts_is_applied_field_for_field(
    body: dict[str, Any], patch: bool
) -> None:
    if patch:
        fields = accepted(writes.WorkerPatch, body).payload_fields(keep_nulls=True)
        event_type = own_events.WORKER_AMENDED
    else:
        fields = accepted(writes.WorkerCreate, {**body, "name": HOST}).payload_fields(
            keep_nulls=False
        )
        event_type = own_events.WORKER_RECORDED
    record = projected(event_type, hostname=HOST, fields=fields)
    assert set(record.data["fields"]) == set(fields)
    check_worker(fold([[record]])[1][HOST], fields)
