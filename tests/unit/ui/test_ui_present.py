"""What the templates print: readable values (marked when Celery cut them), the lifecycle
bar, the workflow tree and the failure inbox."""

from __future__ import annotations

from typing import Any

import pytest
from tasktrail_api.domain.errors import BadRequest
from tasktrail_api.ui.commands import ACTIONS, form_arguments
from tasktrail_api.ui.present import (
    exception_type,
    failure_inbox,
    lifecycle,
    readable,
    timeline,
    workflow,
)


def test_reprs_are_pretty_printed_and_cut_ones_marked() -> None:
    value = readable("{'a': [1, 2], 'b': 'x'}")
    assert value is not None and not value.cut and value.pretty == "{'a': [1, 2], 'b': 'x'}"
    cut = readable("['" + "x" * 1030 + "...")
    assert cut is not None and cut.cut and cut.pretty == cut.raw
    odd = readable("<object at 0x1>")
    assert odd is not None and odd.pretty == "<object at 0x1>" and not odd.cut
    assert readable(None) is None


def test_lifecycle_splits_queue_wait_and_run_time() -> None:
    task = {"received": "2030-01-01T00:00:00Z", "started": "2030-01-01T00:00:03Z", "runtime": 1.0}
    phases = lifecycle(task)
    assert [(p.label, p.seconds, p.percent) for p in phases] == [
        ("queue wait", 3.0, 75),
        ("run time", 1.0, 25),
    ]
    assert lifecycle({}) == []


def test_the_workflow_hangs_children_under_their_parents() -> None:
    def t(i: str, parent: str | None) -> dict[str, Any]:
        return {"id": i, "parent_id": parent, "timestamp": i}

    root = workflow("r", [t("c2", "c1"), t("r", None), t("c1", "r"), t("g", "r"), t("o", "x")])
    assert root is not None
    assert [n.task["id"] for n in root.children] == ["c1", "g", "o"]
    assert [n.task["id"] for n in root.children[0].children] == ["c2"]
    assert workflow("missing", []) is None


def test_failures_group_by_exception_and_name() -> None:
    failed = [
        {"status": "FAILURE", "exception": "ValueError('a')", "name": "n", "timestamp": "1"},
        {"status": "FAILURE", "exception": "ValueError('b')", "name": "n", "timestamp": "3"},
        {"status": "FAILURE", "exception": "KeyError('k')", "name": "n", "timestamp": "2"},
        {"status": "SUCCESS", "name": "n"},
    ]
    groups = failure_inbox(failed)
    assert [(g.exception, g.name, g.count, g.latest) for g in groups] == [
        ("ValueError", "n", 2, "3"),
        ("KeyError", "n", 1, "2"),
    ]
    assert exception_type(None) == "unknown"


def test_form_fields_become_command_arguments() -> None:
    assert form_arguments(ACTIONS["autoscale"], {"max": "8", "min": " 2 "}) == {"max": 8, "min": 2}
    assert form_arguments(ACTIONS["pool_grow"], {"n": ""}) == {}
    with pytest.raises(BadRequest):
        form_arguments(ACTIONS["autoscale"], {"max": "x", "min": "1"})
    with pytest.raises(BadRequest):
        form_arguments(ACTIONS["add_consumer"], {})


def test_a_job_s_runs_on_a_strip_oldest_first_outcomes_only() -> None:
    newest_first: list[dict[str, Any]] = [
        {"kind": "max_instances", "time": "2030-01-01T00:00:05Z", "duration": None},
        {"kind": "executed", "time": "2030-01-01T00:00:04Z", "duration": 0.25},
        {"kind": "submitted", "time": "2030-01-01T00:00:03.75Z", "duration": None},
        {"kind": "missed", "time": "2030-01-01T00:00:02Z", "duration": None},
        {"kind": "error", "time": "2030-01-01T00:00:01Z", "duration": 1.5},
    ]
    strip = timeline(newest_first)
    assert [m.outcome for m in strip.marks] == ["error", "missed", "executed", "max_instances"]
    assert strip.marks[2].label == "executed at 2030-01-01T00:00:04Z UTC, 0.250 s"
    assert strip.marks[3].label == "max instances at 2030-01-01T00:00:05Z UTC"
    assert strip.summary == "4 runs, oldest first: 1 executed, 1 error, 1 missed, 1 max instances"
    assert timeline([{"kind": "submitted", "time": None}]).marks == []
