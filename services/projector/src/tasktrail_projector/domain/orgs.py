"""The ``orgs`` and ``clusters`` read models, folded from ``tasktrail.org.*`` records.

An organisation document (``_id`` = slug) shows its latest ``tasktrail.org.created``; a
cluster document (``_id`` = the app) shows its latest ``tasktrail.org.cluster_assigned``,
i.e. which organisation owns the cluster now. "Latest" is by ``(at, event id)``, as for every
record (:meth:`Record.key`), so the documents are a pure function of the set of events: any
order, any duplication, any replay give the same owner. A cluster that no assignment names
has no document; the API counts it as the default organisation's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from tasktrail_projector.domain.own_events import (
    Record,
    dump_records,
    fold_records,
    load_records,
)

TARGET = "org"
CREATED, ASSIGNED = "created", "cluster_assigned"

Changes = dict[str, list[Record]]


def group(records: Iterable[Record]) -> tuple[Changes, Changes]:
    """A batch's organisation records by slug, and its cluster assignments by cluster."""
    orgs: Changes = defaultdict(list)
    clusters: Changes = defaultdict(list)
    for record in records:
        if record.target == TARGET:
            (orgs if record.kind == CREATED else clusters)[record.subject].append(record)
    return dict(orgs), dict(clusters)


def _latest(doc: Mapping[str, Any] | None, records: list[Record], kind: str) -> Record | None:
    """The latest record of ``kind`` now, or ``None`` if ``records`` change nothing."""
    held = load_records(doc, TARGET)
    if not fold_records(held, records) and doc is not None:
        return None
    return held[kind]


def merge_org(
    doc: Mapping[str, Any] | None, slug: str, records: list[Record]
) -> dict[str, Any] | None:
    latest = _latest(doc, records, CREATED)
    if latest is None:
        return None
    return {
        "_id": slug,
        "slug": slug,
        "name": latest.data["name"],
        "created": latest.moment,
        "created_by": latest.actor,
        "_records": dump_records({CREATED: latest}),
    }


def merge_cluster(
    doc: Mapping[str, Any] | None, app: str, records: list[Record]
) -> dict[str, Any] | None:
    latest = _latest(doc, records, ASSIGNED)
    if latest is None:
        return None
    return {
        "_id": app,
        "app": app,
        "org": latest.data["org"],
        "assigned": latest.moment,
        "assigned_by": latest.actor,
        "_records": dump_records({ASSIGNED: latest}),
    }
