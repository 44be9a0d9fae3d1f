"""What the templates print, made from documents as the use cases show them. Pure.

Celery captures arguments and results as ``repr`` strings, cut at 1024 characters with
``...``; they are shown pretty-printed when they are whole Python literals, as they are
otherwise, and marked when cut.
"""

from __future__ import annotations

import ast
import pprint
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tasktrail_shared.states import FAILURE, READY_STATES

CUT_MARK = "..."
SHOWN_CHILDREN = 200
"""Tasks of one workflow the task page draws at most."""


@dataclass(frozen=True, slots=True)
class Readable:
    raw: str
    pretty: str
    cut: bool
    """Celery cut the repr: what is shown is not the whole value."""


def readable(value: Any) -> Readable | None:
    if value is None:
        return None
    raw = value if isinstance(value, str) else repr(value)
    cut = CUT_MARK in raw
    pretty = raw
    if not cut:
        try:
            pretty = pprint.pformat(ast.literal_eval(raw), width=88, sort_dicts=False)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pretty = raw
    return Readable(raw=raw, pretty=pretty, cut=cut)


def moment(value: Any) -> datetime | None:
    """A time as the use cases show it (ISO 8601, ``Z`` for UTC); ``None`` if it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _at(task: Mapping[str, Any], name: str) -> datetime | None:
    return moment(task.get(name))


@dataclass(frozen=True, slots=True)
class Phase:
    label: str
    seconds: float
    percent: int


def lifecycle(task: Mapping[str, Any]) -> list[Phase]:
    """Queue wait (sent or received to started) and run time (started to the end), each with
    its share of the whole, for the lifecycle bar; empty when the times are not known."""
    start = _at(task, "sent") or _at(task, "received")
    started = _at(task, "started")
    end = next((t for n in ("succeeded", "failed", "revoked") if (t := _at(task, n))), None)
    phases: list[tuple[str, float]] = []
    if start is not None and started is not None:
        phases.append(("queue wait", max((started - start).total_seconds(), 0.0)))
    runtime = task.get("runtime")
    if isinstance(runtime, int | float) and runtime >= 0:
        phases.append(("run time", float(runtime)))
    elif started is not None and end is not None:
        phases.append(("run time", max((end - started).total_seconds(), 0.0)))
    total = sum(seconds for _, seconds in phases)
    if not phases or total <= 0:
        return [Phase(label, seconds, 0) for label, seconds in phases]
    return [Phase(label, seconds, round(100 * seconds / total)) for label, seconds in phases]


@dataclass(slots=True)
class Node:
    task: dict[str, Any]
    children: list[Node] = field(default_factory=list)


def workflow(root_id: str, tasks: Iterable[dict[str, Any]]) -> Node | None:
    """The tree of a workflow from its root by ``parent_id`` (chains and groups alike);
    tasks whose parent is not among ``tasks`` hang under the root."""
    by_id = {t["id"]: Node(t) for t in tasks}
    root = by_id.get(root_id)
    if root is None:
        return None
    for node in sorted(by_id.values(), key=lambda n: n.task.get("timestamp") or ""):
        if node is root:
            continue
        parent = by_id.get(str(node.task.get("parent_id")), root)
        (root if parent is node else parent).children.append(node)
    return root


@dataclass(frozen=True, slots=True)
class FailureGroup:
    exception: str
    name: str
    count: int
    latest: str | None


def exception_type(exception: Any) -> str:
    """``ValueError('boom')`` -> ``ValueError``."""
    text = str(exception or "unknown")
    return text.split("(", 1)[0].strip() or "unknown"


def failure_inbox(failures: Iterable[Mapping[str, Any]], top: int = 10) -> list[FailureGroup]:
    """Failed tasks grouped by exception type and task name, largest groups first."""
    counts: Counter[tuple[str, str]] = Counter()
    latest: dict[tuple[str, str], str | None] = {}
    for task in failures:
        if task.get("status") != FAILURE:
            continue
        key = (exception_type(task.get("exception")), str(task.get("name") or "?"))
        counts[key] += 1
        stamp = task.get("timestamp")
        if isinstance(stamp, str) and (latest.get(key) or "") < stamp:
            latest[key] = stamp
    return [
        FailureGroup(exc, name, n, latest.get((exc, name)))
        for (exc, name), n in counts.most_common(top)
    ]


def is_ready(task: Mapping[str, Any]) -> bool:
    return task.get("status") in READY_STATES


RUN_OUTCOMES = ("executed", "error", "missed", "max_instances")
"""The kinds of run that are an outcome (a submission is not: its outcome is a later run)."""


@dataclass(frozen=True, slots=True)
class RunMark:
    outcome: str
    time: str | None
    duration: float | None

    @property
    def label(self) -> str:
        """What hovering the mark says: the outcome, its time (UTC), its duration."""
        text = f"{self.outcome.replace('_', ' ')} at {self.time or 'an unknown time'} UTC"
        return text if self.duration is None else f"{text}, {self.duration:.3f} s"


@dataclass(frozen=True, slots=True)
class Timeline:
    marks: list[RunMark]
    """Oldest first, left to right."""

    @property
    def summary(self) -> str:
        """The strip in words, for those who do not see its colours."""
        counts = Counter(m.outcome for m in self.marks)
        parts = [f"{counts[o]} {o.replace('_', ' ')}" for o in RUN_OUTCOMES if counts[o]]
        return f"{len(self.marks)} runs, oldest first: {', '.join(parts)}"


def timeline(runs: Iterable[Mapping[str, Any]]) -> Timeline:
    """A job's runs as the use case lists them (newest first) as a strip in time order, one
    mark per outcome; submissions are left out (their run is the outcome that follows)."""
    marks = [
        RunMark(str(run["kind"]), run.get("time"), run.get("duration"))
        for run in runs
        if run.get("kind") in RUN_OUTCOMES
    ]
    marks.reverse()
    return Timeline(marks)
