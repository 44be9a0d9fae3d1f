"""The change notice: what the projector tells live readers after each batch it applied.

The projector publishes one :class:`ChangeNotice` per cluster on core NATS
(``tasktrail.changes.<app>``, not the stream: a notice is a hint, never an event, and nothing
is lost when nobody listens) naming the tasks and workers whose documents the batch changed.
Readers (the API's live web pages) read those documents again; a notice never carries them.

A batch that changed more than :data:`MAX_IDS` documents of a kind names none of them and
sets ``more``: the reader should reload what it shows instead of following ids.
"""

from __future__ import annotations

from collections.abc import Collection

from pydantic import BaseModel, ConfigDict, Field

CHANGES_ROOT = "tasktrail.changes"
MAX_IDS = 1000
"""Ids of one kind a notice names at most; beyond, ``more`` says "too many to name"."""


def change_subject(app: str) -> str:
    return f"{CHANGES_ROOT}.{app}"


def all_change_subjects() -> str:
    return f"{CHANGES_ROOT}.>"


class ChangeNotice(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    app: str
    seq: int = Field(ge=0)
    """The highest stream sequence the batch applied."""
    tasks: list[str] = Field(default_factory=list, max_length=MAX_IDS)
    """Task uuids whose documents changed."""
    workers: list[str] = Field(default_factory=list, max_length=MAX_IDS)
    """Worker hostnames whose documents changed."""
    more: bool = False
    """More documents changed than a notice names."""

    @classmethod
    def of(
        cls, app: str, seq: int, tasks: Collection[str], workers: Collection[str]
    ) -> ChangeNotice:
        """A notice naming ``tasks`` and ``workers``, or none of a kind past :data:`MAX_IDS`."""
        more = len(tasks) > MAX_IDS or len(workers) > MAX_IDS
        return cls(
            app=app,
            seq=seq,
            tasks=sorted(tasks)[:MAX_IDS] if len(tasks) <= MAX_IDS else [],
            workers=sorted(workers) if len(workers) <= MAX_IDS else [],
            more=more,
        )
