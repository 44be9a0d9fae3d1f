"""Every operation of ``/openapi.json``, fuzzed by schemathesis through the ASGI app with its
lifespan running on real MongoDB and NATS, the real projector applying writes and a stand-in
answering for control: no input may get a 5xx, and every answer must match the schema.

Each operation goes through schemathesis's phases: its coverage phase (the values at and just
past every bound and format of the schema, valid and invalid, and their combinations: what
finds a rule checked one way here and another way at control), then the examples and
generated cases of the fuzzing phase, bounded (``MAX_EXAMPLES`` per operation, derandomized)
so the run is repeatable and quick.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import nats
import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from pymongo import AsyncMongoClient
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from tasktrail_api.app import create_app
from tasktrail_api.settings import Settings
from tasktrail_projector.bootstrap import bootstrap
from tasktrail_projector.settings import Settings as ProjectorSettings
from tasktrail_shared.commands import CONTROL_QUEUE_GROUP, control_subject

from tests.integration.api.conftest import FakeControl
from tests.integration.api.support import ADMIN_TOKEN, create_api_indexes

MAX_EXAMPLES = 25
T = TypeVar("T")


class Background:
    """An event loop in a thread of its own: the projector and the control stand-in keep
    running while the (synchronous) fuzzing blocks the test's thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=60)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def fuzzed_app(mongo_url: str, nats_url: str, mongo_db: str, nats_stream: str) -> Iterator[FastAPI]:
    app_name = f"f{uuid.uuid4().hex[:10]}"
    background = Background()
    stop = asyncio.Event()

    async def start() -> Any:
        projection = await bootstrap(
            ProjectorSettings(
                nats_url=nats_url, mongo_url=mongo_url, mongo_db=mongo_db, stream=nats_stream,
                app=app_name, projector_health_port=0, projector_fetch_timeout=0.05,
            )
        )  # fmt: skip
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, tz_aware=True)
        await create_api_indexes(client[mongo_db])
        await client.close()
        nc = await nats.connect(nats_url)
        fake = FakeControl()
        # a control for every cluster: fuzzed records and organisations name clusters freely
        await nc.subscribe(control_subject("*"), queue=CONTROL_QUEUE_GROUP, cb=fake.handle)
        await nc.flush()
        return projection, asyncio.ensure_future(projection.run(stop)), nc

    async def finish(projection: Any, running: Any, nc: Any) -> None:
        stop.set()
        await running
        await projection.close()
        await nc.close()

    projection, running, nc = background.run(start())
    app = create_app(
        Settings(
            app=app_name, mongo_url=mongo_url, nats_url=nats_url, mongo_db=mongo_db,
            admin_token=ADMIN_TOKEN, api_command_timeout=2.0, api_worker_timeout=0.5,
            api_write_wait=2.0,
        )
    )  # fmt: skip
    try:
        yield app
    finally:
        asgi.shutdown_lifespans()
        background.run(finish(projection, running, nc))
        background.close()


CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
STATUSES: dict[int, int] = {}
HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
MODES = {
    GenerationMode.POSITIVE: MAX_EXAMPLES * 3 // 5,
    GenerationMode.NEGATIVE: MAX_EXAMPLES * 2 // 5,
}


Operation = schemathesis.APIOperation[Any, Any, Any, Any]


def no_method_failed(case: schemathesis.Case[Any], response: Any) -> None:
    """Seed 003's batch answers 200 when one of its methods fails: each failed method must
    still be a refusal (4xx in its entry), never a 5xx."""
    if case.path.startswith("/ctrl_api/") and response.status_code == 200:
        codes = [e["error"]["code"] for e in response.json()["reply"] if "error" in e]
        assert all(code < 500 for code in codes), response.text


def fuzz(operation: Operation, mode: GenerationMode, examples: int) -> int:
    """Run ``examples`` cases of one operation; how many were sent."""
    sent = 0

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case[Any]) -> None:
        nonlocal sent
        sent += 1
        response = case.call_and_validate(headers=HEADERS, checks=CHECKS)
        no_method_failed(case, response)
        STATUSES[response.status_code] = STATUSES.get(response.status_code, 0) + 1

    with contextlib.suppress(Unsatisfiable):  # no invalid input exists for this operation
        run()
    return sent


def cover(schema: Any, operation: Operation, failures: list[str]) -> int:
    """The coverage phase of one operation, every case sent; how many were sent."""
    generation = schema.config.generation_for(operation=operation, phase="coverage")
    cases = schema.iter_coverage_cases(
        operation, generation_modes=list(MODES), generation_config=generation
    )
    sent = 0
    for case in cases:
        sent += 1
        try:
            response = case.call_and_validate(headers=HEADERS, checks=CHECKS)
            no_method_failed(case, response)
        except Exception as exc:  # every case is sent; failures are reported together
            failures.append(f"{operation.label} (coverage): {exc}")
            continue
        STATUSES[response.status_code] = STATUSES.get(response.status_code, 0) + 1
    return sent


def test_no_input_gets_a_5xx_or_an_answer_outside_the_schema(fuzzed_app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzzed_app)
    failures: list[str] = []
    operations = sent = 0
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        operation = result.ok()
        operations += 1
        sent += cover(schema, operation, failures)
        for mode, examples in MODES.items():
            try:
                sent += fuzz(operation, mode, examples)
            except Exception as exc:  # every operation is fuzzed; failures are reported together
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert operations >= 35 and sent >= operations * MAX_EXAMPLES // 2, (operations, sent)
    assert not failures, "\n\n".join(failures)
    assert STATUSES.get(200) and STATUSES.get(201) and STATUSES.get(400), STATUSES
