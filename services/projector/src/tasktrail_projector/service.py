"""The projection loop: fetch a batch, fold it into the read models, then acknowledge it.

One batch costs at most one load and one bulk write per collection, whatever its size:
events are grouped by document first, so a task's lifecycle becomes one write. Documents
this process wrote are kept in a bounded cache, and a task it has never seen is assumed new
and inserted without a load; either guess is checked by the store (``_v`` versions, unique
``_id``), and only the documents that guessed wrong are reloaded and folded again. The same
check settles races between replicas sharing the durable consumer. Because folds are
idempotent and order-insensitive, re-folding is always safe, and a document that already
holds the batch's events produces no write at all.

Before the writes, the clusters of the batch are registered (a reader lists a cluster's tasks
only once it knows the cluster). After the writes, one write saves the position (the highest
sequence stored) and marks the stats and counter slots the batch changed (for a document
the batch found already up to date, every slot it may count in: its previous write may have
landed without its marks); only then are the messages acknowledged, so a crash at any point
re-delivers rather than loses, and a re-delivered batch marks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import KW_ONLY, InitVar, dataclass, replace
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

from tasktrail_shared.mongo import (
    CATALOG,
    CLUSTERS,
    DEAD_LETTERS,
    ORGS,
    QUEUE_DEPTHS,
    SCHEDULE_JOBS,
    SCHEDULE_RUNS,
    SCHEDULERS,
    TASK_EVENTS,
    TASKS,
    WORKERS,
)
from tasktrail_shared.times import is_epoch

from tasktrail_projector.clock import SYSTEM_CLOCK
from tasktrail_projector.domain import (
    catalog,
    counts,
    orgs,
    queue_depths,
    schedules,
    tasks,
    workers,
)
from tasktrail_projector.domain.changes import change_notices
from tasktrail_projector.domain.events import to_datetime
from tasktrail_projector.domain.history import task_entries
from tasktrail_projector.domain.labels import Rule
from tasktrail_projector.domain.messages import Decoded, InvalidMessage, decode_message
from tasktrail_projector.domain.stats import changed_slots, slot_key
from tasktrail_projector.ports import (
    ChangeNotifier,
    Clock,
    Delivery,
    Doc,
    EventSource,
    ReadModelStore,
    RejectedWrite,
    ScheduleStore,
    SourceUnavailable,
    StoreUnavailable,
    Write,
)

log = logging.getLogger("tasktrail.projector")

C = TypeVar("C")
Merge = Callable[[Mapping[str, Any] | None, str, C], Doc | None]

REPORT_EVERY = 60.0
"""Seconds between the throughput lines in the log."""
MAX_DEAD_LETTER_DATA = 256 * 1024
"""Keep at most this much of a dead message's data: enough to diagnose, far below 16 MB."""
ORG_CACHE = 1000
"""Organisations and cluster assignments are few and rarely change."""


@dataclass(slots=True)
class Stats:
    """This process's counters since it started, for the log, benchmarks and the health
    port's ``/metrics`` (named as here, see docs/api.md): how well batches coalesce into
    writes."""

    batches: int = 0
    """Batches projected; a batch isolated message by message counts once per message."""
    messages: int = 0
    """Stream messages projected, the undecodable ones (dead-lettered) included."""
    events: int = 0
    """Celery events, own records and schedule facts in them, plus one per queue measured."""
    dead_letters: int = 0
    """Messages written to ``dead_letters``: undecodable, or failing when projected alone."""
    documents_written: int = 0
    """Read-model documents stored (a write lost to a concurrent change is not counted)."""
    bulk_writes: int = 0
    """Bulk writes of read-model documents, one per collection and attempt."""
    loads: int = 0
    """Reads from the store, one per collection and call: of the documents neither cached nor
    guessed new, and of those lost to a conflict."""
    conflicts: int = 0
    """Document writes lost to another writer (the stored version had moved on), retried."""
    wrong_guesses: int = 0
    """Documents inserted as new that existed (after a restart, or another replica's)."""
    history: int = 0
    """Documents appended to ``task_events``: one per message about tasks or audited."""


class DocCache:
    """The last documents this process stored, by id; least recently used ones go first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._docs: OrderedDict[str, Doc] = OrderedDict()

    def get(self, doc_id: str) -> Doc | None:
        doc = self._docs.get(doc_id)
        if doc is not None:
            self._docs.move_to_end(doc_id)
        return doc

    def put(self, doc_id: str, doc: Doc) -> None:
        if self.size <= 0:
            return
        self._docs[doc_id] = doc
        self._docs.move_to_end(doc_id)
        while len(self._docs) > self.size:
            self._docs.popitem(last=False)

    def drop(self, doc_id: str) -> None:
        self._docs.pop(doc_id, None)


@dataclass(eq=False)
class Projector:
    source: EventSource
    store: ReadModelStore
    _: KW_ONLY
    consumer: str = "projector"
    """The durable consumer's name: also the id its position is saved under."""
    rules: InitVar[Sequence[Rule]] = ()
    batch_size: int = 500
    fetch_timeout: float = 0.25
    sent_hold: float = 0.0
    max_attempts: int = 10
    retry_delay: float = 0.5
    cache_size: InitVar[int] = 5000
    clock: Clock = SYSTEM_CLOCK
    notifier: ChangeNotifier | None = None
    """Told which documents each batch changed, after its position is saved."""
    schedule_store: ScheduleStore | None = None
    """Where scheduled jobs are counted; without one, schedule events are not projected."""

    def __post_init__(self, rules: Sequence[Rule], cache_size: int) -> None:
        self.stats = Stats()
        self._merge_task: Merge[tasks.TaskChange] = partial(tasks.merge, rules=tuple(rules))
        self._caches = {
            TASKS: DocCache(cache_size),
            WORKERS: DocCache(max(cache_size, 1000)),
            CATALOG: DocCache(max(cache_size, 1000)),
            ORGS: DocCache(ORG_CACHE),
            CLUSTERS: DocCache(ORG_CACHE),
            SCHEDULERS: DocCache(ORG_CACHE),
            SCHEDULE_JOBS: DocCache(cache_size),
            QUEUE_DEPTHS: DocCache(ORG_CACHE),
        }
        self._insert_first = dict.fromkeys(self._caches, True)
        self.touched_workers: set[str] = set()
        """Workers of the tasks written since the liveness sweep last looked."""
        self._registered: set[str] = set()
        """Clusters whose totals document this process has made sure of."""
        self._held: list[Entry] = []
        """Client task-sent messages held back briefly (see :meth:`_hold_back`)."""

    async def run(self, stop: asyncio.Event) -> None:
        """Project until ``stop`` is set; outages back off and retry, nothing ends the loop."""
        delay = self.retry_delay
        report_at, reported = self.clock.monotonic() + REPORT_EVERY, Stats()
        while not stop.is_set():
            if self.clock.monotonic() >= report_at:
                self._report(reported)
                report_at, reported = self.clock.monotonic() + REPORT_EVERY, replace(self.stats)
            try:
                await self.step()
                delay = self.retry_delay
                continue
            except (SourceUnavailable, StoreUnavailable) as exc:
                log.warning("projection paused: %s; retrying in %.1fs", exc, delay)
            except Exception:
                log.exception("unexpected projection error; retrying in %.1fs", delay)
            await self.clock.sleep(delay, stop)
            delay = min(delay * 2, 30.0)
        if self._held:  # do not leave them to the redelivery timeout
            held, self._held = self._held, []
            with contextlib.suppress(SourceUnavailable, StoreUnavailable):
                await self.handle([e.delivery for e in held], decoded=[e.decoded for e in held])

    def _report(self, since: Stats) -> None:
        """One line of throughput for the last interval, for operators and benchmarks."""
        now = self.stats
        if now.messages == since.messages:
            return
        log.info(
            "projected %d messages, %d events in %d batches: %d documents written, "
            "%d loads, %d conflicts, %d dead letters",
            now.messages - since.messages,
            now.events - since.events,
            now.batches - since.batches,
            now.documents_written - since.documents_written,
            now.loads - since.loads,
            now.conflicts - since.conflicts,
            now.dead_letters - since.dead_letters,
        )

    async def step(self) -> int:
        """Fetch and project one batch; returns how many messages it projected or still holds
        (0: the log is drained)."""
        timeout = self.fetch_timeout
        if self._held:
            held_until = min(e.until for e in self._held)
            timeout = max(0.001, min(timeout, held_until - self.clock.monotonic()))
        fresh = await self.source.fetch(self.batch_size, timeout)
        until = self.clock.monotonic() + self.sent_hold
        entries = [*self._held, *(Entry(d, decode(d), until) for d in fresh)]
        ready, self._held = self._hold_back(entries, self.clock.monotonic())
        if ready:
            await self.handle([e.delivery for e in ready], decoded=[e.decoded for e in ready])
        return len(ready) + len(self._held)

    def _hold_back(self, entries: list[Entry], now: float) -> tuple[list[Entry], list[Entry]]:
        """Split off the client task-sent messages to hold for up to ``sent_hold`` seconds.

        A task's client event and its worker's events come in separate messages a moment
        apart; holding the first until the others arrive lets one write cover the task
        instead of two. Only messages that hold nothing but task-sent events of tasks this
        process has not stored, and that nothing else in hand concerns, are held; a worker
        event is never delayed, and a held message is projected at the latest when its
        time is up.
        """
        if self.sent_hold <= 0:
            return entries, []
        mentions: dict[str, int] = defaultdict(int)
        for entry in entries:
            if isinstance(entry.decoded, Decoded):
                for uuid in {str(o.event.get("uuid")) for o in entry.decoded.events}:
                    mentions[uuid] += 1
        cache = self._caches[TASKS]
        ready: list[Entry] = []
        held: list[Entry] = []
        for entry in entries:
            message = entry.decoded
            hold = (
                entry.until > now
                and isinstance(message, Decoded)
                and bool(message.events)
                and not message.records
                and all(o.type == tasks.SENT for o in message.events)
                and all(
                    mentions[str(o.event["uuid"])] == 1 and cache.get(str(o.event["uuid"])) is None
                    for o in message.events
                )
            )
            (held if hold else ready).append(entry)
        return ready, held

    async def handle(
        self,
        deliveries: Sequence[Delivery],
        nak: bool = True,
        decoded: Sequence[Decoded | InvalidMessage] | None = None,
    ) -> None:
        """Project a batch and acknowledge it; a poisoned message is isolated and buried.

        On an outage the batch is nak'ed (unless ``nak`` is false: the caller retries it
        itself) and :class:`StoreUnavailable` propagates.
        """
        try:
            await self.project(deliveries, decoded)
        except StoreUnavailable:
            if nak:
                await _nak_all(deliveries, self.retry_delay)
            raise
        except Exception as exc:
            # Something in the batch cannot be stored: find it by going one message at a time.
            log.warning("batch of %d failed (%r); isolating the culprit", len(deliveries), exc)
            await self._one_by_one(deliveries, nak)
            return
        for delivery in deliveries:
            await delivery.ack()

    async def project(
        self,
        deliveries: Sequence[Delivery],
        messages: Sequence[Decoded | InvalidMessage] | None = None,
    ) -> None:
        """Fold a batch into every read model and save the position; raises if a write failed."""
        decoded: list[tuple[Delivery, Decoded]] = []
        dead: list[Doc] = []
        for delivery, message in zip(
            deliveries, messages or [decode(d) for d in deliveries], strict=True
        ):
            if isinstance(message, InvalidMessage):
                dead.append(dead_letter(delivery, str(message)))
            else:
                decoded.append((delivery, message))
        observed = [item for _, message in decoded for item in message.events]
        records = [item for _, message in decoded for item in message.records]
        history = [e for d, message in decoded for e in task_entries(message, d.seq)]
        task_changes = tasks.group(observed, records)
        await self._register(task_changes)
        org_changes, cluster_changes = orgs.group(records)
        facts = [fact for _, message in decoded for fact in message.schedule]
        depths = queue_depths.group(d for _, message in decoded for d in message.queues)
        try:
            async with asyncio.TaskGroup() as group:  # a failure cancels the other writes
                task_docs = group.create_task(self._converge(TASKS, task_changes, self._merge_task))
                worker_docs = group.create_task(
                    self._converge(WORKERS, workers.group(observed, records), workers.merge)
                )
                group.create_task(
                    self._converge(CATALOG, catalog.group(observed, records), catalog.merge)
                )
                for write in self._other_writes(
                    org_changes, cluster_changes, depths, facts, history, dead
                ):
                    group.create_task(write)
        except BaseExceptionGroup as failures:
            raise _most_telling(failures) from failures
        written = task_docs.result()
        marks = sorted({slot_key(m) for old, new in written.values() for m in _marks(old, new)})
        self.touched_workers.update(
            new["worker"] for _, new in written.values() if isinstance(new.get("worker"), str)
        )
        seq = max(d.seq for d in deliveries)
        await self.store.save_position(self.consumer, seq, marks)
        if self.notifier is not None:
            await self.notifier.notify(change_notices(seq, written, worker_docs.result()))
        self.stats.batches += 1
        self.stats.messages += len(deliveries)
        self.stats.events += len(observed) + len(records) + len(facts) + len(depths)
        self.stats.dead_letters += len(dead)
        self.stats.history += len(history)
        log.debug(
            "batch of %d messages, %d events, %d marks", len(deliveries), len(observed), len(marks)
        )

    def _other_writes(
        self,
        org_changes: Mapping[str, Any],
        cluster_changes: Mapping[str, Any],
        depths: Mapping[str, list[queue_depths.Depth]],
        facts: Sequence[schedules.Fact],
        history: list[Doc],
        dead: list[Doc],
    ) -> list[Coroutine[Any, Any, Any]]:
        """The batch's writes besides tasks, workers and the catalog: only those it needs."""
        writes: list[Coroutine[Any, Any, Any]] = []
        if org_changes:
            writes.append(self._converge(ORGS, org_changes, orgs.merge_org))
        if cluster_changes:
            writes.append(self._converge(CLUSTERS, cluster_changes, orgs.merge_cluster))
        if depths:
            writes.append(self._converge(QUEUE_DEPTHS, depths, queue_depths.merge))
        if facts and self.schedule_store is not None:
            writes.append(self._schedules(self.schedule_store, facts))
        if history:
            writes.append(self.store.append(TASK_EVENTS, history))
        if dead:
            writes.append(self.store.append(DEAD_LETTERS, dead))
        return writes

    async def _register(self, changes: Mapping[str, tasks.TaskChange]) -> None:
        """Register the clusters these changes may put a task document in, before it is
        written (see ``ReadModelStore.register_apps``); each once per process."""
        apps = {item.app for change in changes.values() for item in change.events}
        apps.update(record.app for change in changes.values() for record in change.records)
        apps.update(app for change in changes.values() for app in change.children.values())
        new = sorted(apps - self._registered)
        if new:
            await self.store.register_apps(new)
            self._registered.update(new)

    async def _schedules(self, store: ScheduleStore, facts: Sequence[schedules.Fact]) -> None:
        """Runs first (so that the counts count them), then schedulers and jobs."""
        batch = schedules.group(facts)
        for scheduler, cleared in batch.cleared.items():
            mine = {job for job in batch.jobs if job.startswith(f"{scheduler}/")}
            for job in sorted(mine | set(await store.job_ids(scheduler))):
                batch.jobs[job].extend(cleared)
        if batch.runs:
            await self.store.append(SCHEDULE_RUNS, batch.runs)
        counts = {}
        if batch.counted:
            counts = schedules.count_rows(await store.count_runs(sorted(batch.counted)))
        jobs = {
            job: schedules.JobChange(facts, counts.get(job) if job in batch.counted else None)
            for job, facts in batch.jobs.items()
        }
        await asyncio.gather(
            self._converge(SCHEDULERS, batch.schedulers, schedules.merge_scheduler),
            self._converge(SCHEDULE_JOBS, jobs, schedules.merge_job),
        )

    async def _converge(
        self, collection: str, changes: Mapping[str, C], merge: Merge[C]
    ) -> dict[str, tuple[Doc | None, Doc]]:
        """Write each changed document once.

        Returns, for every touched document, what it was before (``None`` if new) and what
        is stored now; for a document the batch did not change, both are the stored one.
        """
        known, guessed = await self._believed(collection, sorted(changes))
        final: dict[str, tuple[Doc | None, Doc]] = {}
        pending = sorted(changes)
        for attempt in range(self.max_attempts):
            writes = _fold(pending, known, changes, merge, final)
            if not writes:
                return final
            lost = await self._write(collection, writes, known, final)
            if guessed:
                self._judge_guesses(collection, lost & guessed, len(guessed))
                guessed = set()
            if not lost:
                return final
            pending = sorted(lost)
            await self._reload(collection, pending, known)
            if attempt:
                await self.clock.sleep(random.uniform(0, 0.02 * attempt))  # let racers drift apart
        raise StoreUnavailable(f"{collection}: documents still contended after retries")

    async def _believed(
        self, collection: str, ids: Sequence[str]
    ) -> tuple[dict[str, Doc | None], set[str]]:
        """What each document is believed to be now: the cached copy, else a loaded one, else
        nothing (new). Also returns the ids assumed new without a load: the write checks them.
        """
        cache = self._caches[collection]
        known: dict[str, Doc | None] = {doc_id: cache.get(doc_id) for doc_id in ids}
        missing = [doc_id for doc_id in ids if known[doc_id] is None]
        if not missing:
            return known, set()
        if self._insert_first[collection]:
            return known, set(missing)  # never seen here: most likely new, insert without a load
        loaded = await self.store.load(collection, missing)
        self.stats.loads += 1
        known.update(loaded)
        self._insert_first[collection] = len(loaded) * 2 < len(missing)
        return known, set()

    async def _write(
        self,
        collection: str,
        writes: Sequence[Write],
        known: Mapping[str, Doc | None],
        final: dict[str, tuple[Doc | None, Doc]],
    ) -> set[str]:
        """One bulk write; what landed is cached and put in ``final``; returns the rest."""
        lost = set(await self.store.write(collection, writes))
        self.stats.bulk_writes += 1
        self.stats.documents_written += len(writes) - len(lost)
        cache = self._caches[collection]
        for w in writes:
            if w.doc["_id"] not in lost:
                stored = {**w.doc, "_v": (w.expected or 0) + 1}
                final[w.doc["_id"]] = (known.get(w.doc["_id"]), stored)
                cache.put(w.doc["_id"], stored)
        return lost

    def _judge_guesses(self, collection: str, wrong: set[str], guessed: int) -> None:
        """Keep inserting unseen documents without a load while at most half prove to exist."""
        self.stats.wrong_guesses += len(wrong)
        self._insert_first[collection] = len(wrong) * 2 <= guessed

    async def _reload(
        self, collection: str, ids: Sequence[str], known: dict[str, Doc | None]
    ) -> None:
        """Forget what the lost writes assumed and read those documents as they are now."""
        self.stats.conflicts += len(ids)
        cache = self._caches[collection]
        for doc_id in ids:
            cache.drop(doc_id)
        reloaded = await self.store.load(collection, ids)
        self.stats.loads += 1
        for doc_id in ids:
            known[doc_id] = reloaded.get(doc_id)

    async def _one_by_one(self, deliveries: Sequence[Delivery], nak: bool) -> None:
        """Project each message alone, dead-lettering the ones that cannot be stored."""
        for position, delivery in enumerate(deliveries):
            try:
                await self.project([delivery])
            except StoreUnavailable:
                if nak:
                    await _nak_all(deliveries[position:], self.retry_delay)
                raise
            except Exception as exc:
                log.error("dead-lettering message %d: %r", delivery.seq, exc)
                await self._bury(delivery, f"cannot project: {exc!r}")
            await delivery.ack()

    async def _bury(self, delivery: Delivery, reason: str) -> None:
        try:
            await self.store.append(DEAD_LETTERS, [dead_letter(delivery, reason)])
            self.stats.dead_letters += 1
        except RejectedWrite as exc:  # even the dead letter is refused: the log still has it
            log.error("message %d dropped, dead letter refused: %r", delivery.seq, exc)
        await self.store.save_position(self.consumer, delivery.seq, [])

    def take_touched_workers(self) -> set[str]:
        touched, self.touched_workers = self.touched_workers, set()
        return touched


@dataclass(slots=True)
class Entry:
    """A fetched message, decoded once, and until when it may be held back."""

    delivery: Delivery
    decoded: Decoded | InvalidMessage
    until: float


def decode(delivery: Delivery) -> Decoded | InvalidMessage:
    try:
        return decode_message(delivery.headers, delivery.data)
    except InvalidMessage as exc:
        return exc


def _fold(
    pending: Sequence[str],
    known: Mapping[str, Doc | None],
    changes: Mapping[str, C],
    merge: Merge[C],
    final: dict[str, tuple[Doc | None, Doc]],
) -> list[Write]:
    """The writes the pending documents need; one the change leaves as it is goes to ``final``."""
    writes = []
    for doc_id in pending:
        old = known.get(doc_id)
        new = merge(old, doc_id, changes[doc_id])
        if new is None:
            assert old is not None
            final[doc_id] = (old, old)
            continue
        writes.append(Write(new, None if old is None else int(old.get("_v") or 0)))
    return writes


def _marks(old: Doc | None, new: Doc) -> set[datetime]:
    """Slots whose stats or counts to recompute after ``old`` became ``new`` (see the module
    docstring)."""
    if old is new:
        return {m for m in new.get("_slots") or [] if isinstance(m, datetime)}
    return changed_slots(old, new) | counts.recount(old, new)


def dead_letter(delivery: Delivery, reason: str) -> Doc:
    """The dead letter of a message; its time is the log's, so a rebuild writes the same one."""
    data = delivery.data
    return {
        "_id": delivery.seq,
        "reason": reason,
        "subject": delivery.subject,
        "headers": dict(delivery.headers or {}),
        "data": data[:MAX_DEAD_LETTER_DATA].decode("utf-8", errors="replace"),
        "size": len(data),
        "at": to_datetime(delivery.time) if is_epoch(delivery.time) else None,
    }


async def _nak_all(deliveries: Sequence[Delivery], delay: float) -> None:
    for delivery in deliveries:
        try:
            await delivery.nak(delay)
        except Exception as exc:  # ack_wait redelivers it anyway
            log.debug("nak of %d failed: %r", delivery.seq, exc)


def _most_telling(failures: BaseExceptionGroup[BaseException]) -> BaseException:
    leaves = _leaves(failures)
    for kind in (StoreUnavailable, RejectedWrite):
        for exc in leaves:
            if isinstance(exc, kind):
                return exc
    return leaves[0]


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found
