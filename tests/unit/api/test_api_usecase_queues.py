"""Queue depths as the API shows them: within the caller's scope, with the measurement's age."""

from __future__ import annotations

from datetime import timedelta

from tasktrail_api.domain.scope import EVERYTHING, Scope

from tests.unit.api.fakes import NOW, World


def queue(app: str, name: str, depth: int, age: float) -> dict[str, object]:
    at = NOW - timedelta(seconds=age)
    return {
        "_id": f"{app}/{name}", "app": app, "queue": name, "depth": depth, "measured_at": at,
        "trend": [{"at": at.replace(second=0, microsecond=0), "measured_at": at, "depth": depth}],
    }  # fmt: skip


async def test_queues_in_scope_with_their_age_and_trend() -> None:
    world = World()
    world.read_models.queues.add(queue("c1", "celery", 4, 2.5), queue("c2", "celery", 9, 1))
    mine = await world.use_cases.queues.depths(Scope.of("acme", ["c1"]))
    assert [(q["app"], q["queue"], q["depth"], q["age"]) for q in mine] == [
        ("c1", "celery", 4, 2.5)
    ]
    assert mine[0]["measured_at"] == "2024-05-01T11:59:57.500000Z"
    assert mine[0]["trend"] == [{"at": "2024-05-01T11:59:00.000000Z", "depth": 4}]
    assert len(await world.use_cases.queues.depths(EVERYTHING)) == 2
    assert [q["app"] for q in await world.use_cases.queues.depths(EVERYTHING, "c2")] == ["c2"]
    assert await world.use_cases.queues.depths(Scope.of("acme", ["c1"]), "c2") == []
