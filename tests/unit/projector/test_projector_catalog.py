"""The task catalog read model: discovery, admins' amendments and deletes, in any order."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from typing import Any

import pytest
from tasktrail_projector.domain import catalog
from tasktrail_projector.domain.events import Observed, to_datetime
from tasktrail_projector.domain.history import task_entries
from tasktrail_projector.domain.messages import InvalidMessage, decode_message
from tasktrail_projector.domain.own_events import Record
from tasktrail_shared.catalog import entry_id
from tasktrail_shared.stream_message import StreamMessage, own_event

from tests.unit.projector.builders import event, record

Doc = dict[str, Any]
Item = Observed | Record
T0 = 1_800_000_000.0
ADD = entry_id("default", "demo.add")


def fold(batches: Iterable[Sequence[Item]]) -> dict[str, Doc]:
    docs: dict[str, Doc] = {}
    for batch in batches:
        events = [i for i in batch if isinstance(i, Observed)]
        records = [i for i in batch if isinstance(i, Record)]
        for key, change in catalog.group(events, records).items():
            new = catalog.merge(docs.get(key), key, change)
            if new is not None:
                docs[key] = new
    return docs


def inspected(at: float, *registered: str, reachable: bool = True) -> Record:
    return record(
        "worker.inspected", at, hostname="w1@h", reachable=reachable, registered=list(registered)
    )


def amended(at: float, name: str = "demo.add", **fields: Any) -> Record:
    return record("catalog.amended", at, app="default", name=name, fields=fields)


def envelope_of(kind: str, **payload: Any) -> StreamMessage:
    """A catalog event as the API publishes it: the entry's cluster is the envelope's too
    (``record_envelope`` takes ``app`` for the envelope alone)."""
    body = {"at": T0, "actor": "tester", **payload}
    event_type = f"tasktrail.{kind}"
    return own_event(app="default", type=event_type, payload=body, source="test", id=kind)


def deleted(at: float, name: str = "demo.add") -> Record:
    return record("catalog.deleted", at, app="default", name=name)


def test_an_entry_id_is_24_hex_digits_derived_from_cluster_and_name() -> None:
    assert re.fullmatch(r"[0-9a-f]{24}", ADD)
    assert ADD == entry_id("default", "demo.add") != entry_id("other", "demo.add")


def test_names_seen_in_events_and_registered_by_workers_are_catalogued() -> None:
    docs = fold(
        [
            [
                event("task-sent", T0, name="demo.add"),
                event("task-received", T0 + 1, uuid="t2", name="demo.mul"),
                event("task-started", T0 + 2, uuid="t2"),
                event("task-sent", T0 + 3, uuid="t3", name="celery.chord_unlock"),
                inspected(T0 - 10, "demo.add [rate_limit=10/m]", "demo.sleep"),
            ]
        ]
    )
    assert {d["name"] for d in docs.values()} == {"demo.add", "demo.mul", "demo.sleep"}
    add = docs[ADD]
    assert (add["id"], add["app"], add["deleted"]) == (ADD, "default", False)
    assert add["discovered_by"] == ["events", "registered"]
    assert add["first_seen"] == to_datetime(T0 - 10)
    assert add["timeout"] is None and add["task_arguments"] is None and add["acl"] is None
    assert docs[entry_id("default", "demo.mul")]["discovered_by"] == ["events"]


def test_an_unanswered_inspection_discovers_nothing() -> None:
    assert fold([[inspected(T0, reachable=False)]]) == {}


def test_amendments_define_fields_latest_per_field_and_null_returns_the_default() -> None:
    docs = fold(
        [
            [event("task-sent", T0, name="demo.add")],
            [amended(T0 + 5, timeout=60, multitasking=False, acl=["ops"])],
            [amended(T0 + 3, timeout=30, description="older")],
            [amended(T0 + 7, acl=None, task_arguments=[{"type": "input", "label": "x"}])],
        ]
    )
    add = docs[ADD]
    assert (add["timeout"], add["multitasking"], add["acl"]) == (60, False, None)
    assert add["description"] == "older"
    assert add["task_arguments"] == [{"type": "input", "label": "x"}]
    assert add["discovered_by"] == ["events"] and add["first_seen"] == to_datetime(T0 + 0.001)


def test_an_amendment_alone_creates_the_entry() -> None:
    docs = fold([[amended(T0, name="ops.backup", description="nightly")]])
    entry = docs[entry_id("default", "ops.backup")]
    assert entry["description"] == "nightly" and entry["discovered_by"] == []
    assert entry["first_seen"] == to_datetime(T0)


def test_a_delete_hides_the_entry_until_a_later_amendment_and_discovery_does_not_undo_it() -> None:
    seen = event("task-sent", T0, name="demo.add")
    assert fold([[seen], [deleted(T0 + 1)], [event("task-sent", T0 + 9, "t9", name="demo.add")]])[
        ADD
    ]["deleted"]
    assert fold([[seen, amended(T0 + 0.5, timeout=5)], [deleted(T0 + 1)]])[ADD]["deleted"]
    restored = fold([[seen], [deleted(T0 + 1)], [amended(T0 + 2, timeout=5)]])[ADD]
    assert restored["deleted"] is False and restored["timeout"] == 5


def test_any_order_and_any_duplication_give_the_same_entry() -> None:
    items: list[Item] = [
        event("task-sent", T0, name="demo.add"),
        inspected(T0 - 1, "demo.add"),
        amended(T0 + 1, timeout=60),
        deleted(T0 + 2),
        amended(T0 + 3, acl=["ops"]),
        amended(T0 + 4, timeout=None),
    ]
    expected = fold([items])
    for order in itertools.permutations(items):
        assert fold([[item] for item in order]) == expected
    assert fold([items, items[::-1]]) == expected


def test_a_batch_that_brings_nothing_new_writes_nothing() -> None:
    doc = fold([[event("task-sent", T0, name="demo.add")]])[ADD]
    later = catalog.group([event("task-received", T0 + 5, name="demo.add")])[ADD]
    assert catalog.merge(doc, ADD, later) is None
    earlier = catalog.group([event("task-sent", T0 - 5, "t0", name="demo.add")])[ADD]
    moved = catalog.merge(doc, ADD, earlier)
    assert moved is not None and moved["first_seen"] == to_datetime(T0 - 5 + 0.001)


def test_catalog_changes_and_refused_keys_are_audited_without_a_task() -> None:
    cases: list[tuple[str, Doc]] = [
        ("catalog.amended", {"app": "default", "name": "demo.add", "fields": {"timeout": 9}}),
        ("catalog.deleted", {"app": "default", "name": "demo.add"}),
        ("catalog.key_rotated", {"app": "default", "name": "demo.add"}),
        ("catalog.key_refused", {"org": "acme", "entry": "nope", "reason": "wrong key"}),
    ]
    for kind, payload in cases:
        envelope = envelope_of(kind, **payload)
        [doc] = task_entries(decode_message(envelope.headers(), envelope.data), seq=1)
        [entry] = doc["events"]
        assert doc["uuids"] == [] and entry["uuid"] is None
        assert entry["type"] == f"tasktrail.{kind}" and entry["event"]["actor"] == "tester"
        assert entry["event"]["id"] == ("nope" if kind.endswith("refused") else ADD)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": "60"}, "timeout"),
        ({"colour": "red"}, "colour"),
        ({"task_arguments": [{"type": "fixed"}]}, "needs a 'value'"),
        ({"task_arguments": [{"type": "input", "value": 1}]}, "only a fixed argument"),
        ({"acl": ["no spaces"]}, "acl"),
    ],
)
def test_an_amendment_outside_the_contract_is_dead_lettered(fields: Doc, problem: str) -> None:
    envelope = envelope_of("catalog.amended", app="default", name="x", fields=fields)
    with pytest.raises(InvalidMessage, match=problem):
        decode_message(envelope.headers(), envelope.data)
