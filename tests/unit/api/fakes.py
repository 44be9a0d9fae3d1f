"""In-memory stand-ins for the API's ports, for unit tests of the use cases without servers.

``FakeReadModels`` answers the query plan's MongoDB queries with a small evaluator of the
operators the plan uses (equality, ``$in``, ranges within one type, ``$or``, ``$and``, dotted
paths); ``FakePublisher`` "projects" what is published into it, as the projector would, unless
told not to; ``FakeSender`` executes each command id once, as control's ledger does;
``FixedClock`` moves only when a use case sleeps.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from tasktrail_api.bootstrap import UseCases, bootstrap
from tasktrail_api.domain.errors import Conflict, Unavailable
from tasktrail_api.domain.plan import Doc, Query, SortSpec, Step, merged
from tasktrail_api.domain.principals import Principal, Role
from tasktrail_api.domain.scope import Scope
from tasktrail_api.settings import Settings
from tasktrail_api.usecases.ports import Published
from tasktrail_projector.domain import catalog as catalog_fold
from tasktrail_projector.domain.own_events import decode_record
from tasktrail_shared import counts, own_events
from tasktrail_shared.commands import CommandReply, CommandRequest, WorkerOutcome
from tasktrail_shared.fields import SEED_LABELS, TASK_SETTABLE, WORKER_SETTABLE

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
ADMIN = Principal("root", Role.admin, org=None)
"""A root admin (as ``TASKTRAIL_ADMIN_TOKEN`` is)."""
OPERATOR = Principal("oncall", Role.operator)
VIEWER = Principal("grafana", Role.viewer)
"""The default organisation's."""
MISSING = object()
RANGES: dict[str, Callable[[Any, Any], bool]] = {
    "$gt": lambda a, b: a > b,
    "$gte": lambda a, b: a >= b,
    "$lt": lambda a, b: a < b,
    "$lte": lambda a, b: a <= b,
}


# --- a small MongoDB query evaluator -----------------------------------------------------------


def _get(doc: Any, path: str) -> Any:
    """The value at ``path``; through an array, the list of its elements' values (as MongoDB
    reads ``events.type`` across the ``events`` array)."""
    value: Any = doc
    for step in path.split("."):
        if isinstance(value, list):
            value = [v[step] for v in value if isinstance(v, Mapping) and step in v]
        elif isinstance(value, Mapping) and step in value:
            value = value[step]
        else:
            return MISSING
    return value


def _family(value: Any) -> str:
    """MongoDB compares values of one type family only."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def _condition(value: Any, cond: Any) -> bool:
    """An array matches when it, or any one of its elements, does."""
    if isinstance(value, list) and any(_condition(v, cond) for v in value):
        return True
    if isinstance(cond, dict) and cond and all(op.startswith("$") for op in cond):
        return all(_operator(value, op, bound) for op, bound in cond.items())
    if cond is None:
        return value is MISSING or value is None
    return value is not MISSING and bool(value == cond)


def _operator(value: Any, op: str, bound: Any) -> bool:
    if op == "$in":
        return any(_condition(value, b) for b in bound)
    if op == "$nin":
        return not any(_condition(value, b) for b in bound)
    if value is MISSING or value is None or _family(value) != _family(bound):
        return False
    return RANGES[op](value, bound)


def matches(doc: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    for key, cond in query.items():
        if key == "$and":
            ok = all(matches(doc, q) for q in cond)
        elif key == "$or":
            ok = any(matches(doc, q) for q in cond)
        else:
            ok = _condition(_get(doc, key), cond)
        if not ok:
            return False
    return True


def _sort_key(value: Any) -> tuple[int, Any]:
    """BSON order: missing and null first, then numbers, strings, dates."""
    if value is MISSING or value is None:
        return (0, 0)
    ranks = {"number": 1, "str": 2, "datetime": 3}
    return (ranks.get(_family(value), 4), value)


def sort(docs: list[Doc], spec: SortSpec) -> list[Doc]:
    out = list(docs)
    for field, direction in reversed(spec):  # stable sorts, least significant key first

        def key(doc: Doc, field: str = field) -> tuple[int, Any]:
            return _sort_key(_get(doc, field))

        out.sort(key=key, reverse=direction == -1)
    return out


def project(doc: Doc, projection: Query | None) -> Doc:
    if not projection:
        return dict(doc)
    return {k: v for k, v in doc.items() if k == "_id" or k in projection}


# --- read models ------------------------------------------------------------------------------


class FakeDocuments:
    def __init__(self) -> None:
        self.docs: dict[str, Doc] = {}
        self.reads = 0

    def add(self, *docs: Doc) -> None:
        for doc in docs:
            self.docs[str(doc["_id"])] = dict(doc)

    def find(self, query: Query, spec: SortSpec, projection: Query | None = None) -> list[Doc]:
        found = [d for d in self.docs.values() if matches(d, query)]
        return [project(d, projection) for d in sort(found, spec)]

    async def read(self, steps: Sequence[Step], limit: int, projection: Query | None) -> list[Doc]:
        rows: list[Doc] = []
        for step in steps:
            need = limit - len(rows)
            if need <= 0:
                break
            parts = [self.find(s.query, s.sort, projection)[:need] for s in step.segments]
            rows += merged(parts, step.sort)[:need]
        return rows

    async def count(self, steps: Sequence[Step], bound: int | None) -> int:
        found = 0
        for segment in (s for step in steps for s in step.segments):
            found += sum(1 for d in self.docs.values() if matches(d, segment.query))
        return found if bound is None else min(found, bound + 1)

    async def one(self, query: Query, projection: Query | None = None) -> Doc | None:
        self.reads += 1
        found = self.find(query, [("_id", 1)], projection)
        return found[0] if found else None

    async def ids(self, query: Query, limit: int) -> list[str]:
        return [str(d["_id"]) for d in self.find(query, [("_id", 1)])][:limit]

    async def rows(self, query: Query, projection: Query | None, limit: int) -> list[Doc]:
        self.reads += 1
        return self.find(query, [("_id", 1)], projection)[:limit]


class FakeScheduleReads:
    """The scheduled-jobs read models in memory."""

    def __init__(self) -> None:
        self.schedulers = FakeDocuments()
        self.jobs = FakeDocuments()
        self.runs = FakeDocuments()

    async def job_counts(self, schedulers: list[str]) -> dict[str, int]:
        counts = dict.fromkeys(schedulers, 0)
        for job in self.jobs.docs.values():
            if job.get("active") and job.get("scheduler") in counts:
                counts[job["scheduler"]] += 1
        return counts


class FakeReadModels:
    def __init__(self) -> None:
        self.tasks = FakeDocuments()
        self.workers = FakeDocuments()
        self.catalog = FakeDocuments()
        self.orgs = FakeDocuments()
        self.clusters = FakeDocuments()
        self.queues = FakeDocuments()
        self.messages: list[Doc] = []
        """``task_events``: one document per stream message, with its ``events`` entries."""
        self.buckets: list[Doc] = []
        """``stats``: one bucket per minute and cluster."""
        self.reachable = True
        self.label_indexes: set[str] = set()

    async def totals(self, *, lifecycle: bool = False, labels: bool = False) -> list[Doc]:
        """The counters as the projector would keep them for the tasks held now, with the
        lifecycle and label counters only if asked (as the real read leaves them out)."""
        tallies: dict[str, counts.Tally] = {}
        for doc in self.tasks.docs.values():
            tally = tallies.setdefault(str(doc.get("app")), {})
            for key in counts.task_keys(doc):
                counts.add(tally, key, counts.Cell.of(doc))
            for key, cell in [*counts.lifecycle_cells(doc), *counts.label_cells(doc)]:
                counts.add(tally, key, cell)
        docs = [
            d for app, t in tallies.items() for d in counts.total_documents(app, counts.capped(t))
        ]
        wanted = {counts.TOTAL}
        wanted |= {counts.TOTAL_LIFECYCLE} if lifecycle else set()
        wanted |= {counts.TOTAL_LABELS} if labels else set()
        return [d for d in docs if d["level"] in wanted]

    async def indexed_labels(self) -> frozenset[str]:
        return frozenset({*SEED_LABELS, *self.label_indexes})

    async def worker_groups(self, now: datetime, scope: Scope) -> list[Doc]:
        groups: dict[bool, Doc] = {}
        for doc in self.workers.docs.values():
            if doc.get("deleted") is True or not matches(doc, scope.condition()):
                continue
            online = isinstance(doc.get("alive_until"), datetime) and doc["alive_until"] > now
            row = groups.setdefault(online, {"_id": online, "n": 0, "active": 0, "processed": 0})
            row["n"] += 1
            row["active"] += doc.get("active") or 0
            row["processed"] += doc.get("processed") or 0
        return list(groups.values())

    def _entries(self, message: Query, entry: Query, direction: int) -> list[Doc]:
        found = [m for m in self.messages if matches(m, message)]
        ordered = sort(found, [("timestamp", direction), ("_id", direction)])
        unwound = [{**m, "events": e} for m in ordered for e in m.get("events") or []]
        return [row for row in unwound if matches(row, entry)]

    async def history(
        self, message: Query, entry: Query, direction: int, skip: int, limit: int
    ) -> tuple[list[Doc], int]:
        rows = self._entries(message, entry, direction)
        return rows[skip : skip + limit], len(rows)

    async def log_entries(
        self, message: Query, entry: Query, direction: int, limit: int
    ) -> list[Doc]:
        found = [m for m in self.messages if matches(m, message)]
        unwound = [{**m, "events": e} for m in found for e in m.get("events") or []]
        rows = sort(
            [row for row in unwound if matches(row, entry)],
            [("seq", direction), ("events.index", direction)],
        )
        return rows[:limit]

    async def stats(self, query: Query) -> list[Doc]:
        return sort([b for b in self.buckets if matches(b, query)], [("minute", 1)])

    async def export_events(self, message: Query) -> AsyncIterator[list[Doc]]:
        found = sort([m for m in self.messages if matches(m, message)], [("timestamp", 1)])
        for start in range(0, len(found), 2):  # tiny chunks, to see chunking
            yield found[start : start + 2]

    async def ping(self, timeout: float) -> None:
        if not self.reachable:
            raise Unavailable("the read-model store is unavailable")


class FakeTokenStore:
    def __init__(self) -> None:
        self.tokens: dict[str, Doc] = {}

    async def get_token(self, digest: str) -> Doc | None:
        return self.tokens.get(digest)

    async def add_token(
        self, digest: str, name: str, role: str, by: str, at: datetime, org: str | None
    ) -> None:
        if any(t["name"] == name for t in self.tokens.values()):
            raise Conflict(f"a token named {name!r} exists; revoke it first")
        self.tokens[digest] = {"_id": digest, "name": name, "role": role, "created": at,
                               "created_by": by, "org": org}  # fmt: skip

    async def list_tokens(self) -> list[Doc]:
        docs = sorted(self.tokens.values(), key=lambda t: t["name"])
        return [{k: v for k, v in t.items() if k != "_id"} for t in docs]

    async def token_named(self, name: str) -> Doc | None:
        found = [t for t in await self.list_tokens() if t["name"] == name]
        return found[0] if found else None

    async def remove_token(self, name: str) -> bool:
        for digest, token in list(self.tokens.items()):
            if token["name"] == name:
                del self.tokens[digest]
                return True
        return False


class FakeCatalogKeys:
    def __init__(self) -> None:
        self.keys: dict[str, str] = {}

    async def get_key(self, entry: str) -> str | None:
        return self.keys.get(entry)

    async def issue_key(self, entry: str, key: str, by: str, at: datetime, *, replace: bool) -> str:
        if replace or entry not in self.keys:
            self.keys[entry] = key
        return self.keys[entry]

    async def remove_key(self, entry: str) -> None:
        self.keys.pop(entry, None)


# --- the log, with a projector ----------------------------------------------------------------

WORKER_EVENTS = {own_events.WORKER_RECORDED, own_events.WORKER_AMENDED, own_events.WORKER_DELETED}
TOKEN_EVENTS = {own_events.TOKEN_CREATED, own_events.TOKEN_REVOKED}
ORG_EVENTS = {own_events.ORG_CREATED, own_events.ORG_CLUSTER_ASSIGNED}
AUDIT_ONLY = {*TOKEN_EVENTS, own_events.CATALOG_KEY_ROTATED, own_events.CATALOG_KEY_REFUSED}
CATALOG_EVENTS = {own_events.CATALOG_AMENDED, own_events.CATALOG_DELETED}


class FakePublisher:
    """Keeps what is published (and into which cluster) and, while ``projecting``, applies
    hand-made task and worker events and organisation changes to the read models as the
    projector would."""

    def __init__(self, read_models: FakeReadModels) -> None:
        self.read_models = read_models
        self.published: list[tuple[str, dict[str, Any]]] = []
        self.apps: list[str | None] = []
        """The cluster each event was published under (``None``: the API's own)."""
        self.projecting = True
        self.failing = False

    async def publish(
        self, event_type: str, payload: dict[str, Any], app: str | None = None
    ) -> Published:
        if self.failing:
            raise Unavailable("cannot write to the event log: gone")
        self.published.append((event_type, payload))
        self.apps.append(app)
        event_id = f"e{len(self.published)}"
        if self.projecting and event_type in ORG_EVENTS:
            self._project_org(event_type, payload, event_id)
        elif self.projecting and event_type in CATALOG_EVENTS:
            self._project_catalog(event_type, payload, event_id, app or "default")
        elif self.projecting and event_type not in AUDIT_ONLY:
            self._project(event_type, payload, event_id, app or "default")
        return Published(event_id, len(self.published))

    def _project_org(self, event_type: str, payload: dict[str, Any], event_id: str) -> None:
        kept = {"id": event_id, "at": payload["at"]}
        if event_type == own_events.ORG_CREATED:
            self.read_models.orgs.add({"_id": payload["slug"], "name": payload["name"],
                                       "_records": {"created": kept}})  # fmt: skip
        else:
            self.read_models.clusters.add({"_id": payload["app"], "org": payload["org"],
                                           "_records": {"cluster_assigned": kept}})  # fmt: skip

    def _project_catalog(
        self, event_type: str, payload: dict[str, Any], event_id: str, app: str
    ) -> None:
        """Catalog events are folded by the projector's own pure fold."""
        record = decode_record(event_type, payload, event_id, app)
        docs = self.read_models.catalog.docs
        for key, change in catalog_fold.group([], [record]).items():
            new = catalog_fold.merge(docs.get(key), key, change)
            if new is not None:
                docs[key] = new

    def _project(self, event_type: str, payload: dict[str, Any], event_id: str, app: str) -> None:
        worker = event_type in WORKER_EVENTS
        documents = self.read_models.workers if worker else self.read_models.tasks
        key = payload["hostname"] if worker else payload["uuid"]
        doc = documents.docs.setdefault(key, {**self._new(key, worker), "app": app})
        change = event_type.rsplit(".", 1)[1]
        if change == "deleted":
            doc["deleted"] = True
            return
        doc["deleted"] = False
        settable = WORKER_SETTABLE if worker else TASK_SETTABLE
        for name, value in payload["fields"].items():
            target = doc if name in settable else doc["labels"]
            if value is None and target is doc["labels"]:
                target.pop(name, None)  # null removes a label
            else:
                target[name] = value
            if change == "amended":
                doc.setdefault("_amend", {})[name] = {"id": event_id, "value": value}
        doc.setdefault("_records", {})[change] = {"id": event_id, "at": payload["at"]}

    @staticmethod
    def _new(key: str, worker: bool) -> Doc:
        if worker:
            worker_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"tasktrail:default/{key}"))
            return {"_id": key, "id": worker_id, "hostname": key, "labels": {}, "deleted": False}
        return {"_id": key, "uuid": key, "state": "PENDING", "labels": {}, "deleted": False}


# --- control ----------------------------------------------------------------------------------


class FakeSender:
    """Answers with ``reply``; a repeated command id gets the first reply without running
    again, or a refusal if it names another command (control's ledger, one for every
    cluster as the shared key-value bucket is)."""

    def __init__(self) -> None:
        self.requests: list[CommandRequest] = []
        """Every request sent, executed or not."""
        self.apps: list[str] = []
        """The cluster each request went to."""
        self.executed: list[CommandRequest] = []
        self.answered: dict[str, CommandReply] = {}
        self.reply: Callable[[CommandRequest], CommandReply] = ok_reply
        self.connected = True

    async def send(self, request: CommandRequest, app: str) -> CommandReply:
        self.requests.append(request)
        self.apps.append(app)
        if request.id not in self.answered:
            self.executed.append(request)
            self.answered[request.id] = self.reply(request)
        first = self.answered[request.id]
        if first.command != request.command:
            error = f"not executed: command id {request.id!r} was used for {first.command}"
            return CommandReply(id=request.id, command=request.command, ok=False, error=error)
        return first


def ok_reply(request: CommandRequest, result: Any = None) -> CommandReply:
    workers = {"celery@a": WorkerOutcome(status="ok", detail="ok")}
    return CommandReply(
        id=request.id, command=request.command, ok=True, workers=workers, result=result
    )


class FixedClock:
    """Time stands still but for the sleeps the use cases take (which return at once)."""

    def __init__(self, now: datetime = NOW) -> None:
        self.at = now
        self.elapsed = 0.0

    def now(self) -> datetime:
        return self.at + timedelta(seconds=self.elapsed)

    def monotonic(self) -> float:
        return self.elapsed

    async def sleep(self, seconds: float) -> None:
        self.elapsed += seconds


# --- the whole service layer ------------------------------------------------------------------


class World:
    """The use cases, wired by the app's own bootstrap, over fakes a test can look into."""

    def __init__(self, **settings: Any) -> None:
        self.read_models = FakeReadModels()
        self.schedule_reads = FakeScheduleReads()
        self.token_store = FakeTokenStore()
        self.catalog_keys = FakeCatalogKeys()
        self.publisher = FakePublisher(self.read_models)
        self.sender = FakeSender()
        self.clock = FixedClock()
        values = {"api_write_wait": 5.0, "admin_token": "adm1n"}
        self.settings = Settings(**{**values, **settings})
        self.use_cases: UseCases = bootstrap(
            self.settings,
            read_models=self.read_models,
            schedule_reads=self.schedule_reads,
            token_store=self.token_store,
            catalog_keys=self.catalog_keys,
            publisher=self.publisher,
            sender=self.sender,
            clock=self.clock,
        )


def task(task_id: str, state: str = "SUCCESS", *, age: float = 0, **fields: Any) -> Doc:
    """A ``tasks`` document as the projector writes it (the fields the API reads)."""
    at = NOW - timedelta(seconds=age)
    home = at.replace(second=at.second // 2 * 2, microsecond=0)
    doc: Doc = {"_id": task_id, "uuid": task_id, "app": "default", "state": state,
                "name": "demo.add", "args": "(1, 2)", "kwargs": "{}", "queue": "celery",
                "timestamp": at, "labels": {}, "deleted": False, "children": [],
                "_slots": [home]}  # fmt: skip
    return {**doc, **fields}


def worker(hostname: str, *, online: bool, active: int = 0, processed: int = 0) -> Doc:
    alive_until = NOW + timedelta(seconds=4) if online else NOW - timedelta(seconds=1)
    return {"_id": hostname, "id": f"id-{hostname}", "hostname": hostname, "app": "default",
            "alive_until": alive_until, "active": active, "processed": processed,
            "deleted": False}  # fmt: skip
