"""What the use cases need from the world, as protocols: the adapters implement them over
MongoDB, JetStream, NATS request/reply and the system clock; unit tests over memory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from tasktrail_shared.commands import CommandReply, CommandRequest

from tasktrail_api.domain.own_metrics import Pipeline
from tasktrail_api.domain.plan import Doc, Query, Step
from tasktrail_api.domain.scope import Scope


class Documents(Protocol):
    """One read model (``tasks``, ``workers``, ``orgs``, ``clusters``), deleted documents
    included: callers decide what ``deleted`` means."""

    async def read(self, steps: Sequence[Step], limit: int, projection: Query | None) -> list[Doc]:
        """Up to ``limit`` rows of ``steps``, read in order (``domain.plan``)."""
        ...

    async def count(self, steps: Sequence[Step], bound: int | None) -> int:
        """The documents the steps match, counted no further than past ``bound``."""
        ...

    async def one(self, query: Query, projection: Query | None = None) -> Doc | None: ...

    async def ids(self, query: Query, limit: int) -> list[str]:
        """The ``_id`` of up to ``limit`` matching documents, in ``_id`` order."""
        ...

    async def rows(self, query: Query, projection: Query | None, limit: int) -> list[Doc]:
        """Up to ``limit`` matching documents, in ``_id`` order."""
        ...


class ReadModels(Protocol):
    """The projector's read models."""

    @property
    def tasks(self) -> Documents: ...

    @property
    def workers(self) -> Documents: ...

    @property
    def catalog(self) -> Documents:
        """The task catalog's entries (``tasktrail.catalog.*`` and discovery)."""
        ...

    @property
    def orgs(self) -> Documents:
        """Organisations by slug (``tasktrail.org.created``)."""
        ...

    @property
    def clusters(self) -> Documents:
        """The owner of each cluster given to an organisation (``.cluster_assigned``)."""
        ...

    @property
    def queues(self) -> Documents:
        """Each broker queue's latest depth and trend (``queue_depths``)."""
        ...

    async def worker_groups(self, now: datetime, scope: Scope) -> list[Doc]:
        """Live workers in ``scope`` per online group (``{_id: online?, n, active, processed}``)."""
        ...

    async def totals(self, *, lifecycle: bool = False, labels: bool = False) -> list[Doc]:
        """The projector's task counters, one ``total`` document per cluster
        (``tasktrail_shared.counts``); with the ``total-lifecycle`` documents only if asked
        (they are most of the totals, and only ``/metrics`` reads them), and the
        ``total-labels`` ones only if asked (only lists filtered by a label need them)."""
        ...

    async def indexed_labels(self) -> frozenset[str]:
        """The labels a list may filter on: those with an index."""
        ...

    async def history(
        self, message: Query, entry: Query, direction: int, skip: int, limit: int
    ) -> tuple[list[Doc], int]:
        """History entries (each a message whose ``events`` is the one entry) and their count."""
        ...

    async def log_entries(
        self, message: Query, entry: Query, direction: int, limit: int
    ) -> list[Doc]:
        """History entries in log order (``domain.history.log_pipeline``), each a message
        whose ``events`` is the one entry."""
        ...

    async def stats(self, query: Query) -> list[Doc]:
        """The per-minute stats buckets matching ``query``, oldest first."""
        ...

    def export_events(self, message: Query) -> AsyncIterator[list[Doc]]:
        """Every matching history message, oldest first, a bounded chunk at a time."""
        ...

    async def ping(self, timeout: float) -> None:
        """Raises unless the store answers within ``timeout`` seconds."""
        ...


class TokenStore(Protocol):
    """API tokens, as digests, by qualified name (unique: see ``domain.principals``)."""

    async def get_token(self, digest: str) -> Doc | None: ...

    async def add_token(
        self, digest: str, name: str, role: str, by: str, at: datetime, org: str | None
    ) -> None:
        """Raises :class:`~tasktrail_api.domain.errors.Conflict` if the name is taken;
        ``org`` None is a root token."""
        ...

    async def list_tokens(self) -> list[Doc]:
        """Every token (without its digest), by name."""
        ...

    async def token_named(self, name: str) -> Doc | None:
        """The token of this qualified name (without its digest)."""
        ...

    async def remove_token(self, name: str) -> bool: ...


class CatalogKeys(Protocol):
    """The secret keys of catalog entries, by entry id: credentials, so never in the log."""

    async def get_key(self, entry: str) -> str | None: ...

    async def issue_key(self, entry: str, key: str, by: str, at: datetime, *, replace: bool) -> str:
        """Store ``key`` for ``entry`` and return the key the entry now has: with ``replace``
        the new one (the old one stops working at once), without it the one already there,
        if any (two first requests agree on one key)."""
        ...

    async def remove_key(self, entry: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Published:
    """An event the stream has acknowledged: its id (``Nats-Msg-Id``) and sequence."""

    id: str
    seq: int


class EventPublisher(Protocol):
    """Publishes the API's own events (hand-made task and worker writes, token, organisation
    and catalog changes)."""

    async def publish(
        self, event_type: str, payload: dict[str, Any], app: str | None = None
    ) -> Published:
        """Into the log as an event of cluster ``app`` (``None``: the API's own)."""
        ...


class CommandSender(Protocol):
    """Sends a command to a cluster's control service and returns its reply."""

    @property
    def connected(self) -> bool: ...

    async def send(self, request: CommandRequest, app: str) -> CommandReply:
        """To the control of cluster ``app`` (``tasktrail.control.<app>``)."""
        ...


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...

    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class DurableFigures(Protocol):
    """What ``/metrics`` reads about tasktrail itself (``domain.own_metrics``)."""

    async def pipeline(self) -> Pipeline:
        """The stream's last sequence, the projector's positions and its dead letters."""
        ...

    async def commands(self, pipeline: list[Query]) -> list[Doc]:
        """``pipeline`` run over the audit history (``task_events``)."""
        ...

    async def deliveries(self, pipeline: list[Query]) -> list[Doc]:
        """``pipeline`` run over the alert deliveries."""
        ...
