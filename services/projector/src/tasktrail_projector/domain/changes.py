"""Which documents a batch changed, per cluster: the change notices live readers follow
(``tasktrail_shared.changes``). Pure."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from tasktrail_shared.changes import ChangeNotice

Written = Mapping[str, tuple[Mapping[str, Any] | None, Mapping[str, Any]]]
"""Per document id, what it was before the batch and what is stored now; the same object
twice when the batch left it as it was."""


def _changed_by_app(written: Written) -> dict[str, set[str]]:
    by_app: defaultdict[str, set[str]] = defaultdict(set)
    for doc_id, (old, new) in written.items():
        app = new.get("app")
        if old is not new and isinstance(app, str) and app:
            by_app[app].add(doc_id)
    return by_app


def change_notices(seq: int, tasks: Written, workers: Written) -> list[ChangeNotice]:
    """One notice per cluster whose tasks or workers the batch changed, in cluster order."""
    changed_tasks, changed_workers = _changed_by_app(tasks), _changed_by_app(workers)
    return [
        ChangeNotice.of(app, seq, changed_tasks.get(app, set()), changed_workers.get(app, set()))
        for app in sorted(changed_tasks.keys() | changed_workers.keys())
    ]
