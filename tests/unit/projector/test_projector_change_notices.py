"""The change notices a batch makes: only documents it changed, per cluster."""

from __future__ import annotations

from typing import Any

from tasktrail_projector.domain.changes import change_notices


def test_a_notice_per_cluster_names_the_documents_the_batch_changed() -> None:
    same: dict[str, Any] = {"app": "a"}
    tasks = {
        "t1": (None, {"app": "a"}),
        "t2": ({"app": "a"}, {"app": "a", "state": "SUCCESS"}),
        "t3": (same, same),  # already up to date: no change
        "t4": (None, {"app": "b"}),
        "t5": (None, {}),  # no cluster: nobody can follow it
    }
    workers = {"w1": (None, {"app": "b"})}
    notices = change_notices(7, tasks, workers)
    assert [(n.app, n.seq, n.tasks, n.workers) for n in notices] == [
        ("a", 7, ["t1", "t2"], []),
        ("b", 7, ["t4"], ["w1"]),
    ]
    assert change_notices(8, {"t3": (same, same)}, {}) == []
