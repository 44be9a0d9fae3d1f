"""Read Celery events from a Redis broker's event fanout: a pub/sub client on hiredis.

redis-py's pub/sub pays a timeout and a dict per message; here an :class:`asyncio.Protocol`
feeds each socket read to a ``hiredis.Reader`` and hands every complete ``pmessage`` of that
read to the intake in one call. Nothing awaits between the socket and the outbox, so the
client keeps up with the socket and Redis never finds it 32 MB behind (then it disconnects).

URLs as kombu takes them: ``redis://[user:password@]host[:port][/db]``, ``rediss://`` (TLS;
``?ssl_cert_reqs=none|optional|required&ssl_ca_certs=<file>``), ``unix:///path?db=N`` and
``sentinel://host:port;sentinel://host2:port/db`` (the master named by setting
``TASKTRAIL_COLLECTOR_SENTINEL_MASTER``, looked up again at every connect and every 5 s).

Redis pub/sub keeps nothing for an absent subscriber: what is published while this client is
disconnected is lost to it, which is why collectors run as several replicas.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import hiredis

from tasktrail_collector.channels import event_pattern
from tasktrail_collector.service import Intake

log = logging.getLogger(__name__)

Deliver = Callable[[float, list[tuple[bytes, bytes]]], None]
KEEPALIVE = 5.0
"""Seconds between PINGs on the subscribed connection; no PONG in 3 of them: reconnect."""


class RedisError(ConnectionError):
    """Redis refused a command (bad password, unknown master, ...)."""


def _command(*args: str | bytes) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        raw = arg.encode() if isinstance(arg, str) else arg
        out.append(b"$%d\r\n%b\r\n" % (len(raw), raw))
    return b"".join(out)


@dataclass(frozen=True)
class RedisTarget:
    """Where and how to connect, parsed from a kombu-style broker URL."""

    host: str = "127.0.0.1"
    port: int = 6379
    path: str | None = None
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: ssl.SSLContext | None = None
    sentinels: tuple[tuple[str, int], ...] = ()

    @classmethod
    def from_url(cls, url: str) -> RedisTarget:
        if url.startswith("sentinel://"):
            hosts = []
            parsed = urlparse(url)
            for part in url.split(";"):
                p = urlparse(part.strip())
                hosts.append((p.hostname or "127.0.0.1", p.port or 26379))
                parsed = p
            return cls(
                db=_db(parsed.path, ""),
                username=unquote(parsed.username) if parsed.username else None,
                password=unquote(parsed.password) if parsed.password else None,
                sentinels=tuple(hosts),
            )
        parsed = urlparse(url)
        query = parse_qs(parsed.query)
        if parsed.scheme in ("unix", "redis+socket", "socket"):
            return cls(path=parsed.path, db=_db("", query.get("db", [""])[0]))
        tls = None
        if parsed.scheme == "rediss":
            tls = ssl.create_default_context(cafile=query.get("ssl_ca_certs", [None])[0])
            reqs = query.get("ssl_cert_reqs", ["required"])[0].lower().removeprefix("cert_")
            if reqs == "none":
                tls.check_hostname = False
                tls.verify_mode = ssl.CERT_NONE
            elif reqs == "optional":
                tls.check_hostname = False
                tls.verify_mode = ssl.CERT_OPTIONAL
        return cls(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 6379,
            db=_db(parsed.path, query.get("db", [""])[0]),
            username=unquote(parsed.username) if parsed.username else None,
            password=unquote(parsed.password) if parsed.password else None,
            tls=tls,
        )

    def auth(self) -> list[bytes]:
        if self.password is None:
            return []
        if self.username:
            return [_command("AUTH", self.username, self.password)]
        return [_command("AUTH", self.password)]


def _db(path: str, query: str) -> int:
    value = path.strip("/") or query
    return int(value) if value.isdigit() else 0


class _Subscriber(asyncio.Protocol):
    """One subscribed connection: handshake replies first, then messages."""

    def __init__(self, deliver: Deliver, handshake: Sequence[bytes]) -> None:
        self._deliver = deliver
        self._handshake = handshake
        self._reader = hiredis.Reader()
        self._expected = len(handshake)
        self.transport: asyncio.Transport | None = None
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.last_pong = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(b"".join(self._handshake))

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        try:
            reader.feed(data)
            batch = []
            while (reply := reader.gets()) is not False:
                if type(reply) is list and len(reply) == 4 and reply[0] == b"pmessage":
                    batch.append((reply[2], reply[3]))
                else:
                    self._control(reply)
        except hiredis.ProtocolError as exc:
            self._fail(RedisError(f"protocol error: {exc}"))
            return
        if batch:
            self._deliver(time.time(), batch)

    def _control(self, reply: object) -> None:
        if isinstance(reply, hiredis.ReplyError):
            self._fail(RedisError(str(reply)))
        elif type(reply) is list and reply and reply[0] == b"pong":
            self.last_pong = time.monotonic()
        elif self._expected:
            self._expected -= 1
            if not self._expected and not self.ready.done():
                self.ready.set_result(None)

    def _fail(self, exc: Exception) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc)
        else:
            log.warning("broker error: %s", exc)
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("connection closed"))
        if not self.closed.done():
            self.closed.set_result(None)


class _Request(asyncio.Protocol):
    """A one-off command (sentinel lookup)."""

    def __init__(self, commands: Sequence[bytes]) -> None:
        self._commands = commands
        self._reader = hiredis.Reader()
        self._replies: list[object] = []
        self.done: asyncio.Future[object] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(b"".join(self._commands))

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            self._replies.append(reply)
            if len(self._replies) == len(self._commands) and not self.done.done():
                self.done.set_result(self._replies[-1])

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_exception(exc or ConnectionError("connection closed"))


class RedisEventSource:
    """Pattern-subscribes to ``/<db>.celeryev/*``; reconnects forever on connection loss."""

    def __init__(self, url: str, sentinel_master: str = "mymaster") -> None:
        self.target = RedisTarget.from_url(url)
        self.sentinel_master = sentinel_master
        self.pattern = event_pattern(self.target.db)
        self._current: _Subscriber | None = None

    async def ping(self) -> bool:
        """Subscribed, and the last PONG is recent."""
        sub = self._current
        return (
            sub is not None
            and sub.ready.done()
            and not sub.closed.done()
            and time.monotonic() - sub.last_pong < 3 * KEEPALIVE
        )

    async def _master(self) -> tuple[str, int]:
        target = self.target
        if not target.sentinels:
            return target.host, target.port
        loop = asyncio.get_running_loop()
        errors = []
        lookup = _command("SENTINEL", "get-master-addr-by-name", self.sentinel_master)
        for host, port in target.sentinels:
            transport = None
            try:
                async with asyncio.timeout(2):
                    transport, request = await loop.create_connection(
                        lambda: _Request([lookup]), host, port
                    )
                    reply = await request.done
            except (OSError, TimeoutError) as exc:
                errors.append(f"{host}:{port}: {exc}")
                continue
            finally:
                if transport is not None:
                    transport.close()
            if type(reply) is list and len(reply) == 2:
                return reply[0].decode(), int(reply[1])
            errors.append(f"{host}:{port}: no master {self.sentinel_master!r}")
        raise RedisError("no sentinel knows the master: " + "; ".join(errors))

    async def _connect(self, deliver: Deliver) -> tuple[_Subscriber, tuple[str, int]]:
        loop = asyncio.get_running_loop()
        target = self.target
        handshake = [*target.auth(), _command("PSUBSCRIBE", self.pattern)]
        protocol = _Subscriber(deliver, handshake)
        if target.path:
            address = (target.path, 0)
            await loop.create_unix_connection(lambda: protocol, target.path)
        else:
            address = await self._master()
            await loop.create_connection(
                lambda: protocol,
                address[0],
                address[1],
                ssl=target.tls,
                server_hostname=address[0] if target.tls else None,
            )
        try:
            async with asyncio.timeout(10):
                await protocol.ready
        except BaseException:
            if protocol.transport is not None:
                protocol.transport.close()
            raise
        return protocol, address

    async def run(self, intake: Intake, stop: asyncio.Event) -> None:
        """Hand ``(receive time, [(channel, payload), ...])`` per socket read until ``stop``."""
        deliver: Deliver = intake.redis_batch
        delay = 0.1
        stopping: asyncio.Future[bool] = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                try:
                    protocol, address = await self._connect(deliver)
                except (OSError, TimeoutError, RedisError) as exc:
                    log.warning("broker connection failed (%s); retrying", exc)
                    await asyncio.wait([stopping], timeout=delay)
                    delay = min(delay * 2, 5.0)
                    continue
                delay = 0.1
                self._current = protocol
                log.info("subscribed to %s on %s:%s", self.pattern, *address)
                try:
                    await self._watch(protocol, address, stopping)
                finally:
                    self._current = None
                    if protocol.transport is not None:
                        protocol.transport.close()
        finally:
            stopping.cancel()

    async def _watch(
        self, protocol: _Subscriber, address: tuple[str, int], stopping: asyncio.Future[bool]
    ) -> None:
        """PING while subscribed; return on stop, loss, silence or a sentinel failover."""
        while True:
            waits: list[asyncio.Future[Any]] = [stopping, protocol.closed]
            done, _ = await asyncio.wait(waits, timeout=KEEPALIVE, return_when="FIRST_COMPLETED")
            if done:
                if protocol.closed in done:
                    log.warning("broker connection lost; reconnecting")
                return
            if time.monotonic() - protocol.last_pong > 3 * KEEPALIVE:
                log.warning("broker silent for %.0f s; reconnecting", 3 * KEEPALIVE)
                return
            if self.target.sentinels:
                with contextlib.suppress(OSError, TimeoutError, RedisError):
                    if await self._master() != address:
                        log.warning("sentinel reports a new master; reconnecting")
                        return
            assert protocol.transport is not None
            protocol.transport.write(_command("PING"))

    async def close(self) -> None:
        if self._current is not None and self._current.transport is not None:
            self._current.transport.close()
