"""Organisations and cluster assignments folded from ``tasktrail.org.*``: the latest by
``(at, event id)`` wins whatever the order, and the audit history tags each token or
organisation change with the organisation it concerns instead of a cluster."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from tasktrail_projector.domain import orgs
from tasktrail_projector.domain.events import to_datetime
from tasktrail_projector.domain.history import task_entries
from tasktrail_projector.domain.messages import decode_message
from tasktrail_projector.domain.own_events import Record
from tasktrail_projector.service import Projector
from tasktrail_shared.mongo import CLUSTERS, ORGS, TASK_EVENTS
from tasktrail_shared.stream_message import StreamMessage, content_id, own_event

from tests.unit.projector.builders import deliveries, record
from tests.unit.projector.fakes import FakeSource, FakeStore

T0 = 1_800_000_000.0
Docs = dict[str, dict[str, Any]]

ASSIGNMENTS = [
    record("org.cluster_assigned", T0 + 1, app="scan", org="acme"),
    record("org.cluster_assigned", T0 + 3, app="scan", org="globex"),
    record("org.cluster_assigned", T0 + 2, app="scan", org="initech"),
    record("org.cluster_assigned", T0 + 1, app="mail", org="acme"),
]
CREATIONS = [
    record("org.created", T0, slug="acme", name="Acme"),
    record("org.created", T0 + 5, slug="acme", name="Acme Inc."),
    record("org.created", T0 + 1, slug="globex", name="Globex"),
]


def fold(batches: list[list[Record]]) -> tuple[Docs, Docs]:
    """What the projector stores after folding these batches one after another."""
    org_docs: Docs = {}
    cluster_docs: Docs = {}
    for batch in batches:
        by_org, by_cluster = orgs.group(batch)
        for slug, records in by_org.items():
            doc = orgs.merge_org(org_docs.get(slug), slug, records)
            if doc is not None:
                org_docs[slug] = doc
        for app, records in by_cluster.items():
            doc = orgs.merge_cluster(cluster_docs.get(app), app, records)
            if doc is not None:
                cluster_docs[app] = doc
    return org_docs, cluster_docs


def test_the_latest_assignment_owns_the_cluster() -> None:
    _, clusters = fold([ASSIGNMENTS])
    assert clusters["scan"]["org"] == "globex"
    assert clusters["scan"]["assigned"] == to_datetime(T0 + 3)
    assert clusters["scan"]["assigned_by"] == "tester"
    assert clusters["mail"]["org"] == "acme"


def test_an_organisation_shows_its_latest_creation() -> None:
    org_docs, _ = fold([CREATIONS])
    assert org_docs["acme"]["name"] == "Acme Inc." and org_docs["globex"]["name"] == "Globex"
    assert org_docs["acme"]["created"] == to_datetime(T0 + 5)


@given(st.permutations(ASSIGNMENTS + CREATIONS), st.integers(min_value=1, max_value=7))
def test_any_order_and_batching_give_the_same_documents(records: list[Record], size: int) -> None:
    batches = [records[i : i + size] for i in range(0, len(records), size)]
    assert fold(batches) == fold([ASSIGNMENTS + CREATIONS])
    assert fold([*batches, records]) == fold([ASSIGNMENTS + CREATIONS])  # duplicates


def test_refolding_what_a_document_holds_writes_nothing() -> None:
    org_docs, clusters = fold([CREATIONS + ASSIGNMENTS])
    _, by_cluster = orgs.group(ASSIGNMENTS)
    assert orgs.merge_cluster(clusters["scan"], "scan", by_cluster["scan"]) is None
    by_org, _ = orgs.group(CREATIONS)
    assert orgs.merge_org(org_docs["acme"], "acme", by_org["acme"]) is None


def envelope(kind: str, at: float, **payload: Any) -> StreamMessage:
    """The stream message the API publishes (its own cluster is ``api-app``)."""
    body = {"at": at, "actor": "tester", **payload}
    data = json.dumps(body).encode()
    return own_event(
        app="api-app", type=f"tasktrail.{kind}", payload=body, source="t", id=content_id(data)
    )


def _history(kind: str, **payload: Any) -> dict[str, Any]:
    [delivery] = deliveries([envelope(kind, T0, **payload)])
    [doc] = task_entries(decode_message(delivery.headers, delivery.data), 1)
    return doc


def test_token_and_organisation_changes_belong_to_an_organisation_not_a_cluster() -> None:
    created = _history("org.created", slug="acme", name="Acme")
    assert (created["app"], created["org"]) == (None, "acme")
    assert created["events"][0]["event"]["slug"] == "acme"
    moved = _history("org.cluster_assigned", app="scan", org="globex")
    assert (moved["app"], moved["org"]) == (None, "globex")
    assert moved["events"][0]["event"]["app"] == "scan"
    token = _history("token.created", name="ci", role="viewer", org="acme")
    assert (token["app"], token["org"]) == (None, "acme")
    root = _history("token.created", name="ops", role="admin", org=None)
    assert (root["app"], root["org"]) == (None, None)
    before = _history("token.revoked", name="old")  # written before organisations
    assert (before["org"], before["events"][0]["event"]["name"]) == ("default", "old")
    worker = _history("worker.deleted", hostname="celery@x")
    assert worker["app"] == "api-app" and "org" not in worker


async def test_the_projector_writes_organisations_and_owners() -> None:
    store = FakeStore()
    envelopes = [
        envelope("org.created", T0, slug="acme", name="Acme"),
        envelope("org.cluster_assigned", T0 + 2, app="scan", org="default"),
        envelope("org.cluster_assigned", T0 + 1, app="scan", org="acme"),
    ]
    projector = Projector(FakeSource(deliveries(envelopes)), store, batch_size=2)
    while await projector.step():
        pass
    assert store.docs(ORGS)["acme"]["name"] == "Acme"
    assert store.docs(CLUSTERS)["scan"]["org"] == "default"
    assert {doc["org"] for doc in store.docs(TASK_EVENTS).values()} == {"acme", "default"}
