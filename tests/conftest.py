"""Fixtures for every test: real servers on free ports, and a fresh database or stream per test.

By default the servers are the embedded ones of ``tasktrail_devstack`` (NATS with JetStream,
a MongoDB-wire server, Redis), started once per session. With
``TASKTRAIL_TEST_BACKEND=containers`` and a reachable Docker engine, the same fixtures run the
official images through testcontainers instead, to check against the real thing.

Every stream of the system binds ``tasktrail.events.>``, so two cannot coexist on one server:
tests that need a stream either take ``nats_stream`` (a unique name on the shared server,
which is cleared of event streams around the test) or ``fresh_nats_url`` (a server of their
own).
"""

from __future__ import annotations

import contextlib
import os
import uuid
import warnings
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from pymongo import MongoClient
from tasktrail_devstack.servers import EmbeddedServer, MongoServer, NatsServer, RedisServer

EVENT_SUBJECT_PREFIX = "tasktrail."


def _docker_reachable() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@pytest.fixture(scope="session")
def use_containers() -> bool:
    """Whether the server fixtures run Docker containers rather than embedded servers."""
    if os.environ.get("TASKTRAIL_TEST_BACKEND", "embedded") != "containers":
        return False
    if _docker_reachable():
        return True
    warnings.warn(
        "TASKTRAIL_TEST_BACKEND=containers but no Docker engine is reachable: "
        "using the embedded servers",
        stacklevel=1,
    )
    return False


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Tests marked ``@pytest.mark.anyio`` run on asyncio, like the services."""
    return "asyncio"


# --- servers ------------------------------------------------------------------------------


Container = Callable[[], AbstractContextManager[str]]
"""Runs a server's official image and gives its URL."""


def _serve(use_containers: bool, embedded: EmbeddedServer, container: Container) -> Iterator[str]:
    """A server fixture's body: the URL of ``container`` or else of the ``embedded`` server,
    stopped when the fixture is torn down."""
    if use_containers:
        with container() as url:
            yield url
    else:
        with embedded as server:
            yield server.url


@contextlib.contextmanager
def _nats_image() -> Iterator[str]:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    container = (
        DockerContainer("nats:2.10")
        .with_command("-js")
        .with_exposed_ports(4222)
        .waiting_for(LogMessageWaitStrategy("Server is ready"))
    )
    with container:
        yield f"nats://{container.get_container_host_ip()}:{container.get_exposed_port(4222)}"


@contextlib.contextmanager
def _mongo_image() -> Iterator[str]:
    from testcontainers.community.mongodb import MongoDbContainer

    with MongoDbContainer("mongo:7") as container:
        yield f"{container.get_connection_url()}/?directConnection=true"


@contextlib.contextmanager
def _redis_image() -> Iterator[str]:
    from testcontainers.community.redis import RedisContainer

    with RedisContainer("redis:7") as container:
        yield f"redis://{container.get_container_host_ip()}:{container.get_exposed_port(6379)}/0"


@pytest.fixture(scope="session")
def nats_url(use_containers: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A NATS server with JetStream, shared by the session."""
    yield from _serve(use_containers, NatsServer(tmp_path_factory.mktemp("nats")), _nats_image)


@pytest.fixture
def fresh_nats_url(use_containers: bool, tmp_path: Path) -> Iterator[str]:
    """A NATS server of this test's own: no stream or consumer left by another test."""
    yield from _serve(use_containers, NatsServer(tmp_path / "fresh-nats"), _nats_image)


@pytest.fixture(scope="session")
def mongo_url(use_containers: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A MongoDB(-wire) server shared by the session; take ``mongo_db`` for isolation."""
    yield from _serve(use_containers, MongoServer(tmp_path_factory.mktemp("mongo")), _mongo_image)


@pytest.fixture(scope="session")
def redis_url(use_containers: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server shared by the session (database 0)."""
    yield from _serve(use_containers, RedisServer(tmp_path_factory.mktemp("redis")), _redis_image)


# --- per-test isolation -------------------------------------------------------------------


@pytest.fixture
def mongo_db(mongo_url: str) -> Iterator[str]:
    """A database name no other test uses; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    client: MongoClient[dict[str, object]] = MongoClient(mongo_url, serverSelectionTimeoutMS=5000)
    try:
        client.drop_database(name)
    finally:
        client.close()


async def delete_event_streams(url: str) -> list[str]:
    """Delete every stream bound to tasktrail subjects on the server at ``url``."""
    import nats

    nc = await nats.connect(url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        deleted = []
        for info in await js.streams_info():
            subjects = info.config.subjects or []
            name = info.config.name
            if name and any(s.startswith(EVENT_SUBJECT_PREFIX) for s in subjects):
                await js.delete_stream(name)
                deleted.append(name)
        return deleted
    finally:
        await nc.close()


@pytest.fixture
async def nats_stream(nats_url: str) -> AsyncIterator[str]:
    """A unique stream name (set it as ``TASKTRAIL_STREAM``) on the shared NATS server.

    Event streams are deleted before and after the test, since they all claim the same
    subjects.
    """
    await delete_event_streams(nats_url)
    yield f"T_{uuid.uuid4().hex[:12].upper()}"
    await delete_event_streams(nats_url)
