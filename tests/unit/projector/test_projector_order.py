"""Read models are a function of the set of events: order, duplicates and batching don't matter."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tasktrail_projector.domain import tasks, workers
from tasktrail_projector.domain.events import Observed

from tests.unit.projector.replay import Item as Folded
from tests.unit.projector.replay import Replay, fold

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def event(kind: str, ts: float, uuid: str = "t1", **fields: Any) -> Observed:
    """A task event with a content-derived envelope id, like the collector would give it."""
    body = {"type": kind, "uuid": uuid, "hostname": "w1@h", "timestamp": ts, **fields}
    digest = hashlib.sha256(repr(sorted(body.items())).encode()).hexdigest()[:32]
    return Observed(body, digest, 0, "default", ts + 0.001)


def state_of(events: list[Observed]) -> str:
    task_docs, _ = fold([events])
    return str(task_docs["t1"]["state"])


Item = TypeVar("Item")


def split(items: list[Item], sizes: list[int]) -> list[list[Item]]:
    batches: list[list[Item]] = []
    start = 0
    for size in itertools.cycle(sizes or [len(items) or 1]):
        if start >= len(items):
            return batches
        batches.append(items[start : start + size])
        start += size
    return batches


@SETTINGS
@given(data=st.data())
def test_any_order_duplication_and_batching_of_the_recording(
    recorded: list[Observed], replay: Replay, data: st.DataObject
) -> None:
    expected = replay([recorded])
    shuffled = data.draw(st.permutations(recorded))
    extra = data.draw(st.lists(st.sampled_from(recorded), max_size=40))
    mixed = data.draw(st.permutations([*shuffled, *extra]))
    sizes = data.draw(st.lists(st.integers(1, 25), min_size=1, max_size=6))
    assert replay(split(mixed, sizes)) == expected


@SETTINGS
@given(data=st.data())
def test_merges_commute(recorded: list[Observed], replay: Replay, data: st.DataObject) -> None:
    """Two replicas folding disjoint halves, in either order, agree."""
    picks = data.draw(st.lists(st.booleans(), min_size=len(recorded), max_size=len(recorded)))
    left = [o for o, p in zip(recorded, picks, strict=True) if p]
    right = [o for o, p in zip(recorded, picks, strict=True) if not p]
    assert replay([left, right]) == replay([right, left]) == replay([recorded])


def test_refolding_known_events_changes_nothing(recorded: list[Observed], replay: Replay) -> None:
    task_docs, worker_docs = replay([recorded])
    for uuid, change in tasks.group(recorded).items():
        assert tasks.merge(task_docs[uuid], uuid, change) is None
    for hostname, worker_change in workers.group(recorded).items():
        assert workers.merge(worker_docs[hostname], hostname, worker_change) is None


KINDS = sorted(tasks.LIFECYCLE)
synthetic_event = st.builds(
    lambda kind, ts, uuid, parent, clock: event(
        kind, float(ts), uuid, parent_id=parent, clock=clock, result=f"{kind}@{ts}"
    ),
    st.sampled_from(KINDS),
    st.integers(0, 4),  # few distinct timestamps: plenty of ties
    st.sampled_from(["a", "b", "c"]),
    st.sampled_from([None, "a", "b", "p"]),
    st.integers(0, 2),
)


@settings(max_examples=200, deadline=None)
@given(events=st.lists(synthetic_event, min_size=1, max_size=25), data=st.data())
def test_any_order_of_arbitrary_task_events(events: list[Observed], data: st.DataObject) -> None:
    expected = fold([events])
    extra = data.draw(st.lists(st.sampled_from(events), max_size=10))
    mixed = data.draw(st.permutations(events + extra))
    sizes = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=4))
    batches: list[list[Folded]] = list(split(list[Folded](mixed), sizes))
    assert fold(batches) == expected


LIFE = [
    event("task-received", 1.0),
    event("task-started", 2.0),
    event("task-retried", 3.0, exception="E()"),
    event("task-received", 4.0, retries=1),
    event("task-started", 5.0),
    event("task-succeeded", 6.0, result="42"),
]


def test_retried_lifecycle_in_any_order_ends_success() -> None:
    for order in itertools.permutations(LIFE):  # all 720
        doc = fold([list(order)])[0]["t1"]
        assert (doc["state"], doc["retries"], doc["result"]) == ("SUCCESS", 1, "42"), order
        assert doc["exception"] == "E()"


def test_retry_after_start_ends_retry() -> None:
    for order in itertools.permutations(LIFE[:3]):
        assert state_of(list(order)) == "RETRY"


def test_received_again_after_retry_ends_received() -> None:
    for order in itertools.permutations([LIFE[0], LIFE[2], LIFE[3]]):
        assert state_of(list(order)) == "RECEIVED"


def test_state_rules() -> None:
    sent, received, started = event("task-sent", 1.0), LIFE[0], LIFE[1]
    revoked = event("task-revoked", 9.0, terminated=False, signum=None, expired=True)
    failed = event("task-failed", 7.0, exception="X()")
    late_success = event("task-succeeded", 8.0)
    assert state_of([sent]) == "PENDING"
    assert state_of([sent, received]) == "RECEIVED"
    assert state_of([sent, started]) == "STARTED"
    assert state_of([started, revoked]) == "REVOKED"
    assert state_of([failed, revoked]) == "FAILURE"  # finished stays finished
    assert state_of([failed, late_success]) == "SUCCESS"  # both: the later wins
    assert state_of([event("task-rejected", 3.0)]) == "REJECTED"
    assert state_of([event("task-retried", 3.0)]) == "RETRY"


def test_parent_known_only_from_a_child_claims_nothing_else() -> None:
    child = event("task-sent", 1.0, uuid="kid", parent_id="mom", root_id="mom")
    mom = event("task-received", 2.0, uuid="mom", name="tasks.mom")
    task_docs, _ = fold([[child]])
    mom_only = task_docs["mom"]
    assert (mom_only["app"], mom_only["state"], mom_only["children"]) == (
        "default",
        "PENDING",
        ["kid"],
    )
    assert mom_only["_events"] == {} and mom_only["_child_app"] == "default"
    assert all(mom_only[f] is None for f in (*tasks.RESOLVED, "timestamp", "worker_pid", "revoke"))
    # the child's slot: what the parent is counted in until its own events come
    assert mom_only["_slots"] == [datetime(1970, 1, 1, tzinfo=UTC)]
    assert fold([[child], [mom]]) == fold([[mom], [child]]) == fold([[mom, child]])
    full = fold([[mom, child]])[0]["mom"]
    assert (full["state"], full["name"], full["children"]) == ("RECEIVED", "tasks.mom", ["kid"])


def worker_event(kind: str, ts: float, received: float, **fields: Any) -> Observed:
    body = {"type": kind, "hostname": "w9@h", "timestamp": ts, "freq": 5.0, **fields}
    return Observed(body, f"id-{kind}-{ts}", 0, "default", received)


def test_worker_restarted_after_going_offline_is_alive_again() -> None:
    online = worker_event("worker-online", 1.0, 100.0)
    offline = worker_event("worker-offline", 2.0, 101.0)
    back = worker_event("worker-online", 3.0, 102.0, pid=7)
    _, docs = fold([[back, offline, online]])
    doc = docs["w9@h"]
    assert doc["offline_at"] is None and doc["pid"] == 7
    assert (doc["alive_until"] - doc["last_heartbeat"]).total_seconds() == 10.0


def test_worker_without_usable_freq_uses_celerys_default() -> None:
    _, docs = fold([[worker_event("worker-heartbeat", 1.0, 50.0, freq="fast")]])
    assert (docs["w9@h"]["alive_until"] - docs["w9@h"]["last_heartbeat"]).total_seconds() == 4.0


def test_duplicate_copy_first_seen_wins_whatever_the_order() -> None:
    first = worker_event("worker-heartbeat", 1.0, 50.0)
    again = Observed(first.event, first.envelope_id, 0, "default", 500.0)  # re-published later
    assert fold([[first, again]]) == fold([[again], [first]])
    assert fold([[again, first]])[1]["w9@h"]["_src"]["worker-heartbeat"]["received"] == 50.0
