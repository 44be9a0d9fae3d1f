"""Organisations: who sees what (every caller's :class:`Scope`), which cluster a command goes
to, and creating organisations and giving them clusters, for the HTTP routes and the CLI.

Organisations are a read model the projector builds from the log (``tasktrail.org.*``); the
API writes them as it writes tasks, by publishing the event and waiting until it is
projected. The directory of organisations and cluster owners is read at most about once a
second (``max_age``) and after each change made here; a root token needs none of it.
"""

from __future__ import annotations

import asyncio
from dataclasses import KW_ONLY, dataclass
from typing import Any

from tasktrail_shared import own_events

from tasktrail_api.domain.errors import Conflict, Forbidden, NotFound, Unavailable
from tasktrail_api.domain.orgs import Directory, choose_cluster
from tasktrail_api.domain.plan import by_id
from tasktrail_api.domain.principals import Principal
from tasktrail_api.domain.scope import EVERYTHING, Scope
from tasktrail_api.domain.writes import payload
from tasktrail_api.usecases.polling import wait_for
from tasktrail_api.usecases.ports import (
    Clock,
    Documents,
    EventPublisher,
    Published,
    ReadModels,
)
from tasktrail_api.usecases.writes import Written

MAX_ORGS = 10_000
"""Organisations, and clusters given to them, read into the directory (far more than any
install has)."""
KEPT = {"_records": 1}


def _holds(doc: dict[str, Any] | None, kind: str, published: Published) -> bool:
    """Whether the projected ``doc`` keeps our event as its latest of ``kind``."""
    held = ((doc or {}).get("_records") or {}).get(kind) or {}
    return isinstance(held, dict) and held.get("id") == published.id


_KINDS = {own_events.ORG_CREATED: "created", own_events.ORG_CLUSTER_ASSIGNED: "cluster_assigned"}
"""Under which kind the projected document keeps each event (``_records.<kind>``)."""


@dataclass(eq=False)
class Orgs:
    read_models: ReadModels
    publisher: EventPublisher | None
    """``None`` for reads only (the CLI's ``list``): changes are refused."""
    clock: Clock
    _: KW_ONLY
    default_app: str
    wait: float
    max_age: float = 1.0

    def __post_init__(self) -> None:
        self._directory: Directory | None = None
        self._read_at = 0.0
        self._generation = 0
        self._read_generation = -1
        self._lock = asyncio.Lock()

    def _valid(self) -> Directory | None:
        """The directory held, unless it is older than ``max_age`` or a change made here
        since it was read invalidated it."""
        age = self.clock.monotonic() - self._read_at
        if self._read_generation != self._generation or age > self.max_age:
            return None
        return self._directory

    def invalidate(self) -> None:
        """Read the directory again on next use (after a change made here)."""
        self._generation += 1

    async def directory(self) -> Directory:
        """Every organisation and cluster owner, read at most ``max_age`` seconds ago and
        after the last change made here."""
        held = self._valid()
        if held is not None:
            return held
        async with self._lock:  # one read at a time; whoever waited for it uses it
            held = self._valid()
            if held is not None:
                return held
            generation, started = self._generation, self.clock.monotonic()
            orgs, clusters = await asyncio.gather(
                self.read_models.orgs.rows({}, None, MAX_ORGS),
                self.read_models.clusters.rows({}, None, MAX_ORGS),
            )
            directory = Directory.of(orgs, clusters, self.default_app)
            self._directory, self._read_at, self._read_generation = directory, started, generation
            return directory

    async def scope(self, principal: Principal) -> Scope:
        """What ``principal`` may see and command (see ``Directory.scope``)."""
        if principal.is_root:
            return EVERYTHING
        return (await self.directory()).scope(principal)

    async def clusters(self, scope: Scope) -> list[str]:
        """The known clusters ``scope`` sees: where a command naming no worker goes."""
        return (await self.directory()).clusters(scope)

    async def cluster_for(self, scope: Scope, requested: str | None) -> str:
        """The one cluster a command or a record goes to (``domain.orgs.choose_cluster``)."""
        clusters = [] if requested is not None else await self.clusters(scope)
        return choose_cluster(scope, requested, clusters, self.default_app)

    # --- reading and changing organisations ---------------------------------------------

    async def list(self, caller: Principal) -> list[dict[str, Any]]:
        """Every organisation for a root token; the caller's own otherwise."""
        directory = await self.directory()
        return [directory.show(slug) for slug in directory.visible(caller)]

    async def get(self, slug: str, caller: Principal) -> dict[str, Any]:
        directory = await self.directory()
        if slug not in directory.visible(caller):
            raise NotFound.named("organisation")
        return directory.show(slug)

    def _changes(self, caller: Principal) -> EventPublisher:
        if not caller.is_root:
            raise Forbidden("only a root token may change organisations")
        if self.publisher is None:
            raise Unavailable("organisations are changed through the event log, and none is open")
        return self.publisher

    async def create(self, slug: str, name: str, caller: Principal) -> Written:
        """A new organisation; Conflict if the slug is taken (``default`` always is)."""
        publisher = self._changes(caller)
        self.invalidate()
        if slug in (await self.directory()).orgs:
            raise Conflict(f"organisation {slug!r} exists")
        event = own_events.ORG_CREATED, {"slug": slug, "name": name}
        return await self._recorded(publisher, caller, event, (self.read_models.orgs, slug), slug)

    async def assign(self, slug: str, app: str, caller: Principal) -> Written:
        """Give cluster ``app`` to organisation ``slug`` (taking it from any other)."""
        publisher = self._changes(caller)
        self.invalidate()
        if slug not in (await self.directory()).orgs:
            raise NotFound.named("organisation")
        event = own_events.ORG_CLUSTER_ASSIGNED, {"app": app, "org": slug}
        return await self._recorded(
            publisher, caller, event, (self.read_models.clusters, app), slug
        )

    async def _recorded(
        self,
        publisher: EventPublisher,
        caller: Principal,
        event: tuple[str, dict[str, Any]],
        lands_in: tuple[Documents, str],
        slug: str,
    ) -> Written:
        """Publish ``event`` (its type and values) by ``caller``; wait until the document
        ``lands_in`` names keeps it as its latest of that kind; show organisation ``slug`` (only
        the accepted event if projection lags)."""
        event_type, values = event
        at = self.clock.now().timestamp()
        published = await publisher.publish(
            event_type, payload(event_type, at=at, actor=caller.name, **values)
        )
        documents, key = lands_in
        done = await self._projected(documents, key, _KINDS[event_type], published)
        return await self._shown(slug, published, done)

    async def _projected(
        self, documents: Documents, key: str, kind: str, published: Published
    ) -> bool:
        _, done = await wait_for(
            lambda: documents.one(by_id(key), KEPT),
            lambda doc: _holds(doc, kind, published),
            self.clock,
            self.wait,
        )
        return done

    async def _shown(self, slug: str, published: Published, done: bool) -> Written:
        self.invalidate()
        directory = await self.directory()
        if not done or slug not in directory.orgs:
            return Written(accepted=published, shown=None)
        return Written(accepted=None, shown=directory.show(slug))
