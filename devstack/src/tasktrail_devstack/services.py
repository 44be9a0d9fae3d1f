"""tasktrail's services as child processes on free ports, ready before they are used: what
tests and benchmarks run (``stack`` runs the whole product for ``make run``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tasktrail_devstack.processes import ServiceProcess, find_binary
from tasktrail_devstack.servers import HOST, free_port


def port_variable(name: str) -> str:
    """The setting of the port a service's HTTP endpoint listens on: the API's own, the
    health endpoint of the others."""
    return "TASKTRAIL_API_PORT" if name == "api" else f"TASKTRAIL_{name.upper()}_HEALTH_PORT"


@dataclass(frozen=True)
class Services:
    processes: dict[str, ServiceProcess]
    ports: dict[str, int]

    def url(self, name: str) -> str:
        """Where ``name``'s HTTP endpoint answers (the API's routes, the others' health)."""
        return f"http://{HOST}:{self.ports[name]}"


@contextlib.contextmanager
def running_services(
    names: Sequence[str], env: Mapping[str, str], logs: Path, timeout: float = 30.0
) -> Iterator[Services]:
    """``tasktrail-<name>`` for each of ``names``, with ``env`` and a free port of its own,
    all started and answering ``/readyz`` when the block begins; stopped last first when it
    ends (also when one of them fails to start)."""
    ports = {name: free_port() for name in names}
    env = {**env, **{port_variable(name): str(port) for name, port in ports.items()}}
    services = Services(
        {
            name: ServiceProcess(
                name, [find_binary(f"tasktrail-{name}")], log_path=logs / f"{name}.log", env=env
            )
            for name in names
        },
        ports,
    )
    try:
        for process in services.processes.values():
            process.start()
        for name, process in services.processes.items():
            process.wait_http_ok(f"{services.url(name)}/readyz", timeout)
        yield services
    finally:
        for process in reversed(services.processes.values()):
            process.stop()
