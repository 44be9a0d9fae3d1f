"""An app with its lifespan running against the session's MongoDB(-wire) and NATS servers
(``mongo_url``, ``nats_url``, ``mongo_db`` from tests/conftest.py), and a stand-in for the
control service answering on the command subject.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import httpx
import nats
import pytest
from nats.aio.msg import Msg
from pydantic import ValidationError
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from tasktrail_api.app import create_app
from tasktrail_api.settings import Settings
from tasktrail_projector.bootstrap import Projection
from tasktrail_projector.settings import LabelRule
from tasktrail_shared import mongo
from tasktrail_shared.commands import (
    ARGUMENTS,
    CONTROL_QUEUE_GROUP,
    CommandReply,
    CommandRequest,
    WorkerOutcome,
    control_subject,
)

from tests.integration.api.schedules_support import projecting_schedules, serving
from tests.integration.api.support import ADMIN_TOKEN, Doc, projecting


@pytest.fixture
async def db(mongo_url: str, mongo_db: str) -> AsyncIterator[AsyncDatabase[Doc]]:
    """This test's own database (``mongo_db`` drops it afterwards), for seeding read models.

    Its collections exist before the test writes, as the projector makes them at start-up:
    the app builds its indexes in the background while the test seeds documents.
    """
    client: AsyncMongoClient[Doc] = AsyncMongoClient(mongo_url, tz_aware=True)
    await mongo.create_collections(
        client[mongo_db], (mongo.TASKS, mongo.WORKERS, mongo.TASK_EVENTS, mongo.COUNTS)
    )
    yield client[mongo_db]
    await client.close()


@pytest.fixture
def settings(mongo_url: str, nats_url: str, db: AsyncDatabase[Doc]) -> Settings:
    # A cluster name of its own, so only this test's control stand-in answers.
    return Settings(
        app=f"t{uuid.uuid4().hex[:10]}",
        mongo_url=mongo_url,
        nats_url=nats_url,
        mongo_db=db.name,
        admin_token=ADMIN_TOKEN,
        api_command_timeout=2.0,
        api_worker_timeout=0.5,
        api_write_wait=5.0,
    )


LABEL_RULES = [
    LabelRule(label="cidr_id", task="scan.*", arg=0),
    LabelRule(label="asn_number", task="scan.*", kwarg="asn"),
    LabelRule(label="zone", task="geo.*", kwarg="zone"),  # indexed, so lists may filter on it
]


@pytest.fixture
async def projector(
    nats_url: str, nats_stream: str, mongo_url: str, db: AsyncDatabase[Doc], settings: Settings
) -> AsyncIterator[Projection]:
    """The real projector, in-process on this test's stream and database, so writes project."""
    async with projecting(
        nats_url, nats_stream, mongo_url, db, settings.app,
        projector_labels=LABEL_RULES,
        projector_stats_interval=0.1,  # counters follow within a tenth of a second
    ) as projection:  # fmt: skip
        yield projection


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous client of an app whose lifespan (MongoDB and NATS clients) is running."""
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as c,
    ):
        yield c


@pytest.fixture
def client(api: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same app, calling as the admin."""
    api.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    return api


class FakeControl:
    """Stands in for the control service: records requests and answers with ``reply``; like
    control, it refuses arguments the shared contract refuses (so a fuzzed body the API lets
    through but control would refuse shows up as a 502)."""

    def __init__(self) -> None:
        self.requests: list[CommandRequest] = []
        self.reply: Callable[[CommandRequest], CommandReply] = self.all_ok
        self.workers = {
            "celery@w1": WorkerOutcome(status="ok", detail="ok"),
            "celery@w2": WorkerOutcome(status="ok", detail="ok"),
            "celery@w3": WorkerOutcome(status="error", detail="not found"),
        }

    def all_ok(self, request: CommandRequest) -> CommandReply:
        return CommandReply(id=request.id, command=request.command, ok=True, workers=self.workers)

    async def handle(self, msg: Msg) -> None:
        request = CommandRequest.model_validate_json(msg.data)
        self.requests.append(request)
        try:
            ARGUMENTS[request.command].model_validate(request.args)
        except ValidationError as exc:
            refused = CommandReply(
                id=request.id, command=request.command, ok=False, error=f"invalid arguments: {exc}"
            )
            await msg.respond(refused.model_dump_json().encode())
            return
        await msg.respond(self.reply(request).model_dump_json().encode())


@pytest.fixture
async def control(nats_url: str, settings: Settings) -> AsyncIterator[FakeControl]:
    fake = FakeControl()
    nc = await nats.connect(nats_url)
    await nc.subscribe(control_subject(settings.app), queue=CONTROL_QUEUE_GROUP, cb=fake.handle)
    await nc.flush()
    yield fake
    await nc.close()


@pytest.fixture
async def stack(
    nats_url: str, nats_stream: str, mongo_url: str, db: AsyncDatabase[Doc], settings: Settings
) -> AsyncIterator[str]:
    """The projector (quick schedule sweep) and the API behind a real HTTP server, for
    schedulers that post from threads or processes of their own; the API's base URL."""
    async with (
        projecting_schedules(nats_url, nats_stream, mongo_url, db, settings.app),
        serving(settings) as base,
    ):
        yield base


@pytest.fixture
async def http(stack: str) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client of :func:`stack`'s API, over HTTP."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=stack, headers=headers, timeout=10) as client:
        yield client
