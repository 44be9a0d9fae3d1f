"""Embedded NATS (JetStream), MongoDB-wire and Redis servers for the local stack and the tests.

Each is a real server process bound to 127.0.0.1 on a free port, with its data and log file
in a directory of its own, so that development and tests never depend on (nor disturb)
whatever may run on the standard ports of the machine.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from urllib.parse import urlparse

import httpx

from tasktrail_devstack.processes import Child, Lifetime, find_binary, has_exited, spawn, stop_all

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A TCP port nothing listens on right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether ``port`` can be bound now (to keep a preferred port such as the API's 8000)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


class EmbeddedServer(Child, ABC):
    """A server child process: ``start()`` waits until it answers its protocol."""

    start_attempts: ClassVar[int] = 3
    """A free port can be taken between our pick and the server's bind: retry on a new one."""
    death_signal: ClassVar[signal.Signals] = signal.SIGTERM
    """What stops the server if the process that started it dies without stopping it."""

    def __init__(
        self,
        data_dir: Path | str,
        *,
        port: int | None = None,
        log_path: Path | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        super().__init__()
        self.data_dir = Path(data_dir)
        self.log_path = log_path or self.data_dir / f"{self.name}.log"
        self.start_timeout = start_timeout
        self._fixed_port = port
        self.port: int | None = None

    @abstractmethod
    def command(self, port: int) -> list[str]: ...

    @abstractmethod
    def url_for(self, port: int) -> str: ...

    @abstractmethod
    def ping(self, port: int) -> bool:
        """One readiness probe; must not raise and must return quickly."""

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError(f"{self.name} server is not started")
        return self.url_for(self.port)

    def start(self) -> str:
        """Start the server, wait until it answers, return its URL."""
        if self._proc is not None:
            raise RuntimeError(f"{self.name} server already started")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        attempts = 1 if self._fixed_port else self.start_attempts
        for attempt in range(1, attempts + 1):
            port = self._fixed_port or free_port()
            self._proc = proc = spawn(
                self.command(port), log_path=self.log_path, death_signal=self.death_signal
            )
            try:
                ready = self._wait_ready(proc, port)
            except BaseException:  # interrupted: leave nothing running
                self.stop(timeout=2)
                self._proc = None
                raise
            if ready:
                self.port = port
                return self.url
            failed = has_exited(proc)
            self.stop(timeout=2)
            self._proc, self._signalled = None, False
            if not failed or attempt == attempts:
                reason = "exited" if failed else f"not ready after {self.start_timeout:.0f} s"
                raise self.failure(f"server on port {port} {reason}")
        raise AssertionError("unreachable")

    def start_again(self) -> None:
        """On the same port: the clients were given its URL."""
        if self.port is not None:
            self._fixed_port = self.port
        self.start()

    def _wait_ready(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if has_exited(proc):
                return False
            if self.ping(port):
                return True
            time.sleep(0.02)
        return False


def _exchange(port: int, send: bytes, expect: bytes) -> bool:
    """Connect, optionally send, and check the first bytes the server answers."""
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            if send:
                sock.sendall(send)
            received = b""
            while len(received) < len(expect) and b"\n" not in received:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                received += chunk
            return received.startswith(expect)
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class ClusterMember:
    """How one ``nats-server`` joins a cluster."""

    server_name: str
    """Stable: JetStream knows its peers (and a stream's leader) by server name."""
    cluster_name: str
    route_port: int
    routes: tuple[str, ...]
    """Every member's route URL, this one's included (as compose.scale.yaml gives them)."""
    monitor_port: int
    """HTTP monitoring: ``/healthz`` answers 200 once this server's JetStream is current."""


class NatsServer(EmbeddedServer):
    """``nats-server`` with JetStream, storing in ``<data_dir>/jetstream``; alone, or one
    ``member`` of a cluster (see :class:`NatsCluster`)."""

    name = "nats"

    def __init__(
        self,
        data_dir: Path | str,
        *,
        member: ClusterMember | None = None,
        port: int | None = None,
        log_path: Path | None = None,
        start_timeout: float = 30.0,
    ) -> None:
        self.member = member
        if member is not None:
            self.name = member.server_name
        super().__init__(data_dir, port=port, log_path=log_path, start_timeout=start_timeout)

    def command(self, port: int) -> list[str]:
        command = [
            find_binary("nats-server"),
            "-a",
            HOST,
            "-p",
            str(port),
            "-js",
            "-sd",
            str(self.data_dir),
        ]
        if (member := self.member) is not None:
            command += [
                "--name",
                member.server_name,
                "--cluster_name",
                member.cluster_name,
                "--cluster",
                f"nats://{HOST}:{member.route_port}",
                "--routes",
                ",".join(member.routes),
                "-m",
                str(member.monitor_port),
            ]
        return command

    def jetstream_current(self) -> bool:
        """A cluster member's JetStream has joined the cluster (its ``/healthz`` is 200)."""
        if self.member is None:
            return self.running
        url = f"http://{HOST}:{self.member.monitor_port}/healthz"
        try:
            return httpx.get(url, timeout=1.0, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    def url_for(self, port: int) -> str:
        return f"nats://{HOST}:{port}"

    def ping(self, port: int) -> bool:
        # A NATS server greets every client with an INFO line once it accepts connections.
        return _exchange(port, b"", b"INFO ")


class MongoServer(EmbeddedServer):
    """``secantusd-py``, a MongoDB-wire server storing in ``data_dir``."""

    name = "mongo"
    death_signal = signal.SIGKILL  # its SIGTERM handler can wait for good on a stuck thread

    def command(self, port: int) -> list[str]:
        return [
            find_binary("secantusd-py"),
            "--host",
            HOST,
            "--port",
            str(port),
            "--storage-path",
            str(self.data_dir / "db"),
            # no replica-set advertisement, hence no oplog: nothing here uses change streams
            # or transactions, and the oplog costs every write an extra encode and insert
            "--standalone",
        ]

    def url_for(self, port: int) -> str:
        return f"mongodb://{HOST}:{port}/?directConnection=true"

    def ping(self, port: int) -> bool:
        from pymongo import MongoClient
        from pymongo.errors import PyMongoError

        client: MongoClient[dict[str, object]] = MongoClient(
            self.url_for(port), serverSelectionTimeoutMS=500, connectTimeoutMS=500
        )
        try:
            client.admin.command("ping")
        except PyMongoError:
            return False
        finally:
            client.close()
        return True


def redis_db(url: str, db: int) -> str:
    """``url``, a Redis server's, naming its database ``db``: tests that share one server keep
    their brokers and result backends apart by database number."""
    return urlparse(url)._replace(path=f"/{db}").geturl()


class RedisServer(EmbeddedServer):
    """``redis-server`` without persistence; ``url`` is database 0, see :meth:`db_url`."""

    name = "redis"

    def command(self, port: int) -> list[str]:
        return [
            find_binary("redis-server"),
            "--port",
            str(port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.data_dir),
        ]

    def url_for(self, port: int) -> str:
        return f"redis://{HOST}:{port}/0"

    def db_url(self, db: int) -> str:
        return redis_db(self.url, db)

    def ping(self, port: int) -> bool:
        return _exchange(port, b"PING\r\n", b"+PONG")


class NatsCluster(Lifetime):
    """``size`` ``nats-server`` processes routed into one JetStream cluster, on free ports.

    Its :attr:`url` lists every member's client URL, comma-separated, as
    ``TASKTRAIL_NATS_URL`` takes a cluster's seed list. Members are named ``n1``, ``n2``, ...
    """

    def __init__(
        self, data_dir: Path | str, size: int = 3, *, name: str = "tasktrail", timeout: float = 30.0
    ) -> None:
        data_dir = Path(data_dir)
        route_ports = [free_port() for _ in range(size)]
        routes = tuple(f"nats://{HOST}:{port}" for port in route_ports)
        self.timeout = timeout
        self.servers = [
            NatsServer(
                data_dir / f"n{i}",
                member=ClusterMember(f"n{i}", name, route_port, routes, free_port()),
            )
            for i, route_port in enumerate(route_ports, start=1)
        ]

    @property
    def urls(self) -> list[str]:
        """The members' client URLs (a nats-py client takes the list)."""
        return [server.url for server in self.servers if server.port is not None]

    @property
    def url(self) -> str:
        """The seed list, as ``TASKTRAIL_NATS_URL`` takes it."""
        return ",".join(self.urls)

    def server(self, name: str) -> NatsServer:
        """The member called ``name`` (a stream's ``cluster.leader``, say)."""
        for server in self.servers:
            if server.name == name:
                return server
        raise KeyError(name)

    def start(self) -> str:
        """Start every member, then wait until each one's JetStream has joined the cluster."""
        for server in self.servers:
            server.start()
        deadline = time.monotonic() + self.timeout
        for server in self.servers:
            while not server.jetstream_current():
                if not server.running:
                    raise server.failure("exited while joining the cluster")
                if time.monotonic() >= deadline:
                    raise server.failure(f"JetStream not current after {self.timeout:.0f} s")
                time.sleep(0.1)
        return self.url

    def stop(self) -> None:
        stop_all(self.servers)

    def started(self) -> bool:
        return any(server.started() for server in self.servers)
