"""The totals as the projector's roll-up stores them on a real server, read by the API: lists
and the dashboard get the task counters alone, ``/metrics`` the lifecycle ones too
(docs/decisions/0023), lists filtered by a label the label ones too (docs/decisions/0026)."""

from __future__ import annotations

from datetime import UTC, datetime

from pymongo import AsyncMongoClient
from tasktrail_api.adapters.readmodels import open_read_models
from tasktrail_api.domain.totals import parse_totals
from tasktrail_projector.adapters.store import MongoStore
from tasktrail_projector.rollup import RollUp
from tasktrail_shared import counts, mongo

AT = datetime(2024, 5, 1, 12, tzinfo=UTC)
DIMS = counts.DIMENSIONS
DONE = {"state": "SUCCESS", "name": "demo.add", "worker": "w1", "queue": "celery",
        "timestamp": AT, "sent": AT, "received": AT, "started": AT, "succeeded": AT,
        "runtime": 0.3, "labels": {"zone": "eu", "asn": 64500}}  # fmt: skip


def tally_of(doc: dict[str, object]) -> counts.Tally:
    tally: counts.Tally = {}
    for key in counts.task_keys(doc):
        counts.add(tally, key, counts.Cell.of(doc))
    for key, cell in [*counts.lifecycle_cells(doc), *counts.label_cells(doc)]:
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
        tasks_alone = {k: c for k, c in tally.items() if k[0] == counts.ALL or k[0] in DIMS}
        # without the label totals, the label counts are unknown (never zero)
        assert parse_totals(for_lists)["c1"] == {**tasks_alone, counts.UNKNOWN: counts.Cell(1)}
        for_labels = await models.totals(labels=True)
        assert sorted(d["_id"] for d in for_labels) == ["total-labels/c1", "total/c1"]
        labelled = parse_totals(for_labels)["c1"]
        assert labelled == {k: c for k, c in tally.items() if k[0] != counts.EVENTS}
        assert counts.label_count(labelled, "zone", ["eu"]) == counts.Cell(
            1, (AT, None, None, None), (AT, None, None, None)
        )
        number = counts.label_count(labelled, "asn", [64500, "64500"])  # asn=64500
        assert number is not None and number.n == 1
        assert counts.label_count(labelled, "asn", ["64500"]) == counts.Cell(0)  # the text
        # label totals not written with this total (a write cut between the two) are unknown
        client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url)
        try:
            await client[mongo_db][mongo.COUNTS].update_one(
                {"_id": "total-labels/c1"}, {"$set": {"stamp": "older"}}
            )
        finally:
            await client.close()
        assert (
            counts.label_count(parse_totals(await models.totals(labels=True))["c1"], "zone", ["eu"])
            is None
        )
        for_metrics = await models.totals(lifecycle=True)
        assert sorted(d["_id"] for d in for_metrics) == ["total-lifecycle/c1", "total/c1"]
        whole: counts.Tally = {}
        for doc in for_metrics:
            for key, cell in counts.stored(doc).items():
                counts.add(whole, key, cell)
        assert whole == {k: c for k, c in tally.items() if c.n and not counts.is_label(k)}
    finally:
        await models.close()
        await store.close()
