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


def _merge(
    doc: Mapping[str, Any] | None,
    subject: str,
    records: list[Record],
    kind: str,
    shown: tuple[str, str, str],
) -> dict[str, Any] | None:
    """The document of ``subject`` showing its latest record of ``kind``, or ``None`` if
    ``records`` change nothing.

    Both documents have the same form; ``shown`` names its fields: the subject's own field,
    the one data field the record gives, and the verb whose ``<verb>``/``<verb>_by`` fields
    say when and by whom.
    """
    held = load_records(doc, TARGET)
    if not fold_records(held, records) and doc is not None:
        return None
    latest = held[kind]
    subject_field, data_field, verb = shown
    return {
        "_id": subject,
        subject_field: subject,
        data_field: latest.data[data_field],
        verb: latest.moment,
        f"{verb}_by": latest.actor,
        "_records": dump_records({kind: latest}),
    }


def merge_org(
    doc: Mapping[str, Any] | None, slug: str, records: list[Record]
) -> dict[str, Any] | None:
    return _merge(doc, slug, records, CREATED, ("slug", "name", "created"))


def merge_cluster(
    doc: Mapping[str, Any] | None, app: str, records: list[Record]
) -> dict[str, Any] | None:
    return _merge(doc, app, records, ASSIGNED, ("app", "org", "assigned"))
