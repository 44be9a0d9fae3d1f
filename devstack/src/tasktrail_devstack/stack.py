"""``make run``: the whole system on one machine, each part its own process, as in production.

Embedded NATS, MongoDB-wire and Redis servers start unless ``TASKTRAIL_NATS_URL``,
``TASKTRAIL_MONGO_URL`` or ``TASKTRAIL_BROKER_URL`` point elsewhere; with the embedded broker
come a demo Celery worker and demo traffic. Then the five services start from their console
scripts. Everything binds 127.0.0.1 on free ports (the API prefers 8000) and logs to
``<data dir>/logs/``. Two collectors read the broker, as in production on Redis, so that
events published while one of them is down still reach the stream.

Once everything is up, a child that dies (a crash, a kill -9) is started again, with a backoff,
and logged; the others keep running (:mod:`tasktrail_devstack.supervision`, compose's
``restart: unless-stopped``). Only Ctrl-C or SIGTERM stops it all, leaving no process: first
the demo, so the services see the worker go offline, then the services, then the servers they
use. A failure while starting up still stops everything, with the log tail of what failed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType
from typing import NoReturn

import httpx

from tasktrail_devstack.processes import (
    CELERY_READY,
    Child,
    ProcessFailed,
    ServiceProcess,
    celery_worker_process,
    find_binary,
    stop_all,
)
from tasktrail_devstack.servers import (
    HOST,
    EmbeddedServer,
    MongoServer,
    NatsServer,
    RedisServer,
    free_port,
    port_is_free,
)
from tasktrail_devstack.watch import Watch

SERVICES = ("collector", "projector", "control", "notifier", "api")
COLLECTORS = 2
"""Collector replicas: on Redis (pub/sub) what is published while none listens is lost."""
DEFAULT_API_PORT = 8000
DEMO_APP = "tasktrail_devstack.demo.app"
HEALTH_TIMEOUT = 60.0
WORKER_READY_TIMEOUT = 30.0


class StopRequested(BaseException):
    """SIGINT or SIGTERM arrived: unwind and stop everything."""


def _say(message: str) -> None:
    print(message, flush=True)


def _health_port(environ: Mapping[str, str], service: str) -> int:
    value = environ.get(f"TASKTRAIL_{service.upper()}_HEALTH_PORT", "")
    return int(value) if value and int(value) else free_port()


def _api_port(environ: Mapping[str, str], host: str) -> int:
    value = environ.get("TASKTRAIL_API_PORT", "")
    if value and int(value):
        return int(value)
    return DEFAULT_API_PORT if port_is_free(DEFAULT_API_PORT, host) else free_port(host)


def _local(host: str) -> str:
    """Where to reach a server bound to ``host`` from this machine."""
    return HOST if host in ("", "0.0.0.0", "::") else host


def _check(children: list[Child]) -> None:
    """Raise, with its log tail, if anything the stack runs has exited."""
    for child in children:
        if not child.running:
            raise child.failure(f"exited unexpectedly with code {child.exit_code()}")


def _ok(client: httpx.Client, url: str) -> bool:
    try:
        return client.get(url).status_code == 200
    except httpx.HTTPError:
        return False


def _collector_env(environ: Mapping[str, str], data_dir: Path, replica: int) -> dict[str, str]:
    """A replica's own health port (the first one may be set) and disk spool."""
    port = _health_port(environ, "collector") if replica == 1 else free_port()
    return {
        "TASKTRAIL_COLLECTOR_HEALTH_PORT": str(port),
        "TASKTRAIL_COLLECTOR_SPOOL_DIR": str(data_dir / f"collector-{replica}-spool"),
    }


def _wait_healthy(health: dict[str, str], children: list[Child]) -> None:
    """Wait for every ``/healthz``, failing as soon as any child exits."""
    pending = dict(health)
    deadline = time.monotonic() + HEALTH_TIMEOUT
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while pending:
            _check(children)
            for name, url in list(pending.items()):
                if _ok(client, url):
                    del pending[name]
                    _say(f"  {name:<10} healthy ({url})")
            if pending and time.monotonic() >= deadline:
                names = ", ".join(pending)
                raise ProcessFailed(f"not healthy after {HEALTH_TIMEOUT:.0f} s: {names}")
            time.sleep(0.2)


class _Stack:
    """The running children, stopped tier by tier (last started, first stopped)."""

    def __init__(self, exit_stack: contextlib.ExitStack) -> None:
        self.exit_stack = exit_stack
        self.children: list[Child] = []

    def tier(self, stop_timeout: float) -> list[Child]:
        """A group of independent children, stopped together; register it before starting."""
        members: list[Child] = []
        self.exit_stack.callback(lambda: stop_all(members, stop_timeout))
        return members

    def add(self, tier: list[Child], child: Child) -> None:
        tier.append(child)
        self.children.append(child)


def _start_services(
    stack: _Stack,
    env: dict[str, str],
    health_ports: dict[str, int],
    environ: Mapping[str, str],
    data_dir: Path,
) -> dict[str, str]:
    """Start every service (the collector twice); returns their health URLs, the API's aside."""
    services = stack.tier(stop_timeout=10.0)
    health = {}
    for name in SERVICES:
        replicas = COLLECTORS if name == "collector" else 1
        for replica in range(1, replicas + 1):
            label, extra = name, {}
            if replicas > 1:
                label, extra = f"{name}-{replica}", _collector_env(environ, data_dir, replica)
            service = ServiceProcess(
                label,
                [find_binary(f"tasktrail-{name}")],
                log_path=data_dir / "logs" / f"{label}.log",
                env={**env, **extra},
            )
            stack.add(services, service)
            service.start()
            if name in health_ports:
                port = extra.get(f"TASKTRAIL_{name.upper()}_HEALTH_PORT") or health_ports[name]
                health[label] = f"http://{HOST}:{port}/healthz"
    return health


def _start_demo(stack: _Stack, env: dict[str, str], logs: Path) -> None:
    """The demo worker, once it consumes, then its traffic."""
    # SIGQUIT is Celery's cold shutdown: a warm one would wait out a 20 s demo sleep.
    worker = celery_worker_process(
        DEMO_APP,
        env=env,
        name="demo@%h",
        log_path=logs / "worker.log",
        stop_signal=signal.SIGQUIT,
    )
    stack.add(stack.tier(stop_timeout=5.0), worker)
    worker.start()
    worker.wait_log(CELERY_READY, WORKER_READY_TIMEOUT)
    traffic = ServiceProcess(
        "traffic",
        [sys.executable, "-m", "tasktrail_devstack.demo.traffic"],
        log_path=logs / "traffic.log",
        env=env,
    )
    stack.add(stack.tier(stop_timeout=5.0), traffic)
    traffic.start()
    _say("  demo       worker and traffic running")


def run(environ: Mapping[str, str], exit_stack: contextlib.ExitStack) -> NoReturn:
    """Start everything, then restart what dies until a signal arrives."""
    data_dir = Path(environ.get("TASKTRAIL_DATA_DIR") or ".data").resolve()
    logs = data_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    _say(f"tasktrail: data and logs in {data_dir}")
    stack = _Stack(exit_stack)

    servers = stack.tier(stop_timeout=10.0)

    def embedded(server: EmbeddedServer) -> str:
        stack.add(servers, server)
        url = server.start()
        _say(f"  {server.name:<10} {url}")
        return url

    def external(variable: str) -> str | None:
        if value := environ.get(variable):
            _say(f"  {variable} is set: no embedded server for it")
        return value

    nats_url = external("TASKTRAIL_NATS_URL") or embedded(
        NatsServer(data_dir / "nats", log_path=logs / "nats.log")
    )
    mongo_url = external("TASKTRAIL_MONGO_URL") or embedded(
        MongoServer(data_dir / "mongo", log_path=logs / "mongo.log")
    )
    broker_url = external("TASKTRAIL_BROKER_URL")
    demo = broker_url is None
    if broker_url is None:
        redis = RedisServer(data_dir / "redis", log_path=logs / "redis.log")
        broker_url = embedded(redis)
        result_backend: str | None = redis.db_url(1)
    else:
        _say("  watching that broker: no demo worker or traffic")
        result_backend = environ.get("TASKTRAIL_RESULT_BACKEND") or None

    token = environ.get("TASKTRAIL_ADMIN_TOKEN") or secrets.token_urlsafe(24)
    api_host = environ.get("TASKTRAIL_API_HOST") or HOST
    api_port = _api_port(environ, api_host)
    api_url = f"http://{_local(api_host)}:{api_port}"
    health_ports = {name: _health_port(environ, name) for name in SERVICES if name != "api"}
    env = {
        "TASKTRAIL_BROKER_URL": broker_url,
        "TASKTRAIL_NATS_URL": nats_url,
        "TASKTRAIL_MONGO_URL": mongo_url,
        "TASKTRAIL_APP": environ.get("TASKTRAIL_APP") or "default",
        "TASKTRAIL_ADMIN_TOKEN": token,
        "TASKTRAIL_API_HOST": api_host,
        "TASKTRAIL_API_PORT": str(api_port),
        **{f"TASKTRAIL_{name.upper()}_HEALTH_PORT": str(p) for name, p in health_ports.items()},
    }
    if result_backend:
        env["TASKTRAIL_RESULT_BACKEND"] = result_backend

    health = {"api": f"{api_url}/healthz"}
    health.update(_start_services(stack, env, health_ports, environ, data_dir))
    _wait_healthy(health, stack.children)
    if demo:
        _start_demo(stack, env, logs)

    _say(
        f"\ntasktrail is running.\n"
        f"  API          {api_url}\n"
        f"  admin token  {token}\n"
        f"  logs         {logs}\n"
        f'  try          curl -H "Authorization: Bearer {token}" {api_url}/monitor/tasks/\n'
        f"Press Ctrl-C to stop."
    )
    watch = Watch(stack.children, say=_say)
    while True:
        watch.poll()
        time.sleep(0.2)


def main() -> None:
    stopping = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        # Only the first signal unwinds; later ones must not interrupt the clean-up.
        nonlocal stopping
        if not stopping:
            stopping = True
            raise StopRequested(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    status = 1
    try:
        with contextlib.ExitStack() as exit_stack:
            try:
                run(os.environ, exit_stack)
            except Exception as exc:  # a child failed: say why, then stop the rest
                print(f"\ntasktrail: {exc}", file=sys.stderr, flush=True)
            finally:
                stopping = True
                _say("tasktrail: stopping")
    except StopRequested:
        status = 0
    _say("tasktrail: stopped")
    sys.exit(status)
