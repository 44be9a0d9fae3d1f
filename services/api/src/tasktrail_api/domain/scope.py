"""What a caller may see: every cluster (a root token) or the clusters its organisation owns.

Every read and every command goes through a :class:`Scope`, so that a token of one
organisation never sees, counts, exports or commands what belongs to another; objects outside
the scope answer as if they did not exist (404), so existence does not leak.

The default organisation owns every cluster that no other organisation was given, so a
single-team install (no other organisation) reads with no condition at all. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import StringConstraints
from tasktrail_shared.settings import APP_NAME

ClusterName = Annotated[str, StringConstraints(pattern=APP_NAME.pattern)]
"""A cluster's name (``app``, ``TASKTRAIL_APP``) in a request: a NATS subject token."""


@dataclass(frozen=True, slots=True)
class Scope:
    org: str | None
    """The organisation's slug; ``None`` for a root token."""
    apps: frozenset[str] | None = None
    """The clusters (``app``) in scope; ``None``: every cluster but the ``excluded`` ones."""
    excluded: frozenset[str] = field(default_factory=frozenset)
    """With ``apps`` None: the clusters other organisations own (the default organisation)."""

    @classmethod
    def of(cls, org: str, apps: Iterable[str]) -> Scope:
        return cls(org, frozenset(apps))

    @property
    def is_everything(self) -> bool:
        return self.apps is None and not self.excluded

    def allows(self, app: str | None) -> bool:
        """Whether a document of cluster ``app`` is visible."""
        if self.apps is not None:
            return app is not None and app in self.apps
        return app not in self.excluded

    def condition(self) -> dict[str, Any]:
        """The read-model query condition that keeps a read inside the scope (``{}`` for
        everything), to merge into a query that has no ``app`` condition of its own."""
        if self.apps is not None:
            return {"app": {"$in": sorted(self.apps)}}
        if self.excluded:
            return {"app": {"$nin": sorted(self.excluded)}}
        return {}


EVERYTHING = Scope(org=None)
