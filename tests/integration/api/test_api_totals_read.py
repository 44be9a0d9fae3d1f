"""The totals as the projector's roll-up stores them on a real server, read by the API: lists
and the dashboard get the task counters alone, ``/metrics`` the lifecycle ones too
(docs/decisions/0023)."""

from __future__ import annotations

from datetime import UTC, datetime

from tasktrail_api.adapters.readmodels import open_read_models
from tasktrail_api.domain.totals import parse_totals
from tasktrail_projector.adapters.store import MongoStore
from tasktrail_projector.rollup import RollUp
from tasktrail_shared import counts

AT = datetime(2024, 5, 1, 12, tzinfo=UTC)
DONE = {"state": "SUCCESS", "name": "demo.add", "worker": "w1", "queue": "celery",
        "timestamp": AT, "sent": AT, "received": AT, "started": AT, "succeeded": AT,
        "runtime": 0.3}  # fmt: skip


def tally_of(doc: dict[str, object]) -> counts.Tally:
    tally: counts.Tally = {}
    for key in counts.task_keys(doc):
        counts.add(tally, key, counts.Cell.of(doc))
    for key, cell in counts.lifecycle_cells(doc):
        counts.add(tally, key, cell)
    return tally


async def test_lists_read_the_task_totals_and_metrics_the_lifecycle_ones_too(
    mongo_url: str, mongo_db: str
) -> None:
    store = MongoStore.open(mongo_url, mongo_db)
    models = open_read_models(mongo_url, mongo_db, timeout=10)
    try:
        tally = tally_of(DONE)
        await RollUp(store).put(counts.TOTAL, None, {"c1": tally})
        for_lists = await models.totals()
        assert [d["_id"] for d in for_lists] == ["total/c1"]
        assert not any(d == counts.EVENTS for d, _, _ in parse_totals(for_lists)["c1"])
        assert parse_totals(for_lists)["c1"] == {
            k: c for k, c in tally.items() if k[0] != counts.EVENTS
        }
        for_metrics = await models.totals(lifecycle=True)
        assert sorted(d["_id"] for d in for_metrics) == ["total-lifecycle/c1", "total/c1"]
        whole: counts.Tally = {}
        for doc in for_metrics:
            for key, cell in counts.stored(doc).items():
                counts.add(whole, key, cell)
        assert whole == {k: c for k, c in tally.items() if c.n}
    finally:
        await models.close()
        await store.close()
