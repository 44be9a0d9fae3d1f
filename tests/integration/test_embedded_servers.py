"""The embedded servers start on free ports, speak their protocol and leave nothing behind."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import nats
import pytest
import redis
from pymongo import MongoClient
from tasktrail_devstack.processes import ProcessFailed, pid_alive
from tasktrail_devstack.servers import (
    EmbeddedServer,
    MongoServer,
    NatsServer,
    RedisServer,
    free_port,
)
from tasktrail_shared.nats import ensure_stream
from tasktrail_shared.settings import StreamSettings

STANDARD_PORTS = {4222, 6379, 27017}
S = TypeVar("S", bound=EmbeddedServer)


def assert_gone(server: EmbeddedServer, pid: int) -> None:
    assert not server.running
    assert not pid_alive(pid)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # nothing is left in the server's process group


def assert_local_free_port(server: EmbeddedServer) -> None:
    assert server.port is not None
    assert server.port not in STANDARD_PORTS
    assert "127.0.0.1" in server.url


@contextmanager
def checked(server: S) -> Iterator[S]:
    """Run ``server`` for the block: started on a free local port, and gone, with its whole
    process group, once the block is left."""
    with server:
        pid = server.pid
        assert pid is not None
        assert_local_free_port(server)
        yield server
    assert_gone(server, pid)


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


async def test_nats_server_has_jetstream(tmp_path: Path) -> None:
    with checked(NatsServer(tmp_path / "nats")) as server:
        nc = await nats.connect(server.url, max_reconnect_attempts=0)
        try:
            js = nc.jetstream()
            info = await js.account_info()
            assert info.limits is not None
            await ensure_stream(js, StreamSettings("T_EMBEDDED"))
            ack = await js.publish("tasktrail.events.default.test", b"x")
            assert ack.stream == "T_EMBEDDED"
        finally:
            await nc.close()
        assert (tmp_path / "nats" / "jetstream").is_dir()
        assert server.log_path.is_file()


def test_mongo_server_answers_ping_and_stores(tmp_path: Path) -> None:
    with checked(MongoServer(tmp_path / "mongo")) as server:
        client: MongoClient[dict[str, object]] = MongoClient(server.url)
        try:
            assert client.admin.command("ping")["ok"] == 1
            client.t.items.insert_one({"_id": "a", "n": 1})
            assert client.t.items.find_one({"_id": "a"}) == {"_id": "a", "n": 1}
        finally:
            client.close()


def test_redis_server_answers_ping(tmp_path: Path) -> None:
    with checked(RedisServer(tmp_path / "redis")) as server:
        assert server.url.endswith("/0")
        assert server.db_url(1).endswith("/1")
        client = redis.Redis.from_url(server.url)
        try:
            assert client.ping()
            client.set("k", "v")
            assert client.get("k") == b"v"
        finally:
            client.close()


def test_a_taken_port_fails_with_the_log_tail(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = RedisServer(tmp_path / "redis", port=port, start_timeout=10)
        with pytest.raises(ProcessFailed, match="redis: server on port"):
            server.start()
    assert not server.running


async def test_fixtures_give_isolated_streams(nats_url: str, nats_stream: str) -> None:
    nc = await nats.connect(nats_url, max_reconnect_attempts=0)
    try:
        js = nc.jetstream()
        await ensure_stream(js, StreamSettings(nats_stream))
        assert (await js.stream_info(nats_stream)).config.name == nats_stream
    finally:
        await nc.close()


async def test_fresh_nats_is_empty(fresh_nats_url: str, nats_url: str) -> None:
    assert fresh_nats_url != nats_url
    nc = await nats.connect(fresh_nats_url, max_reconnect_attempts=0)
    try:
        assert await nc.jetstream().streams_info() == []
    finally:
        await nc.close()


def test_mongo_db_fixture_is_unique(mongo_url: str, mongo_db: str) -> None:
    assert mongo_db.startswith("t_")
    client: MongoClient[dict[str, object]] = MongoClient(mongo_url)
    try:
        assert mongo_db not in client.list_database_names()
        client[mongo_db].c.insert_one({"x": 1})
        assert client[mongo_db].c.count_documents({}) == 1
    finally:
        client.close()


def test_redis_fixture(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.ping()
    finally:
        client.close()


async def test_a_killed_nats_server_restarts_on_its_port_with_its_stream(tmp_path: Path) -> None:
    """What ``make run`` does when a server dies: the services keep the URL they were given."""
    with NatsServer(tmp_path / "nats") as server:
        url = server.url
        nc = await nats.connect(url, max_reconnect_attempts=0)
        try:
            js = nc.jetstream()
            await ensure_stream(js, StreamSettings("T_RESTART"))
            await js.publish("tasktrail.events.default.test", b"kept")
        finally:
            await nc.close()
        first = server.pid
        assert first is not None
        server.kill()
        server.restart()
        assert server.url == url and server.pid != first
        nc = await nats.connect(url, max_reconnect_attempts=0)
        try:
            message = await nc.jetstream().get_msg("T_RESTART", 1)
            assert message.data == b"kept"  # JetStream recovered its storage
        finally:
            await nc.close()
