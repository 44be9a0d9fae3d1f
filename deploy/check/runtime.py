"""Rules on what a component is started with, wherever it is set (Dockerfile or compose file):
its TASKTRAIL_* variables, its command, where it listens and what its health check probes."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from itertools import pairwise
from pathlib import Path, PurePosixPath

from deploy.check.components import PREFIX, Component, console_scripts, settings_of, variable
from deploy.check.report import Report

# The routes every service that listens answers (the product's contract; each service's
# integration tests hold it to them): liveness, and readiness with its dependencies pinged.
HEALTH_ROUTES = ("/healthz", "/readyz")
LISTEN_ALL = frozenset({"0.0.0.0", "::", "[::]"})
_URL = re.compile(r"https?://[^/:'\"\s]+(?::(?P<port>\d+))?(?P<path>/[^'\"\s?#)]*)?")
# Programs of the devstack image that take a module of it: `celery -A <module>`, `python -m`.
_MODULE_FLAGS = {"celery": ("-A", "--app"), "python": ("-m",), "python3": ("-m",)}


def check_names(component: Component, names: Iterable[str], where: str, report: Report) -> None:
    """Every TASKTRAIL_* variable given must be a field of the component's settings."""
    settings = settings_of(component)
    for name in names:
        if name.upper().startswith(PREFIX) and name.upper() not in settings.fields:
            report.problem(
                f"{where}: {name} is not a setting of {component.distribution} "
                f"(no field in {component.settings})"
            )


def check_values(
    component: Component, variables: Mapping[str, str], where: str, report: Report
) -> None:
    """The settings class must accept the values (types, bounds, validators)."""
    rejection = settings_of(component).rejection(variables)
    if rejection:
        report.problem(f"{where}: rejected by {component.settings}: {rejection}")


def _module_argument(program: list[str]) -> str | None:
    flags = _MODULE_FLAGS.get(PurePosixPath(program[0]).name, ())
    for flag, value in pairwise(program[1:]):
        if flag in flags:
            return value.split(":")[0]
    return None


def _ships(root: Path, component: Component, module: str) -> bool:
    base = root / component.directory / "src" / Path(*module.split("."))
    found = base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()
    return module.startswith(f"{component.package}.") and found


def check_program(
    root: Path, component: Component, program: list[str], where: str, report: Report
) -> None:
    """The command must be a console script of the component ([project.scripts]); the
    devstack image may also run ``celery -A`` or ``python -m`` with a module it ships."""
    scripts = console_scripts(root, component)
    if program and PurePosixPath(program[0]).name in scripts:
        return
    module = None if component.listens or not program else _module_argument(program)
    if module is None:
        report.problem(
            f"{where}: {' '.join(program)!r} is not a console script of "
            f"{component.distribution} ([project.scripts]: {', '.join(sorted(scripts))})"
        )
    elif not _ships(root, component, module):
        report.problem(f"{where}: module {module} is not part of {component.distribution}")


def port_of(component: Component, variables: Mapping[str, str]) -> int | None:
    """The port the component listens on under ``variables`` (None: not a number)."""
    assert component.port_field is not None
    value = settings_of(component).value(variables, component.port_field)
    return int(value) if value.isdigit() else None


def check_listening(
    component: Component, variables: Mapping[str, str], where: str, report: Report
) -> None:
    """A service in a container must listen on all its interfaces, on a real port."""
    assert component.host_field is not None and component.port_field is not None
    host = settings_of(component).value(variables, component.host_field)
    if host not in LISTEN_ALL:
        report.problem(
            f"{where}: {component.name} listens on {host} only, out of reach from outside its "
            f"container (set {variable(component.host_field)}=0.0.0.0)"
        )
    if not port_of(component, variables):
        report.problem(f"{where}: {variable(component.port_field)} must be a port, not 0 (off)")


def check_probe(
    component: Component, probe: str | None, port: int | None, where: str, report: Report
) -> None:
    """The health check must request a health route of the component, on its port."""
    urls = list(_URL.finditer(probe or ""))
    if not urls:
        report.problem(f"{where}: does not probe an HTTP health route of {component.name}")
    for url in urls:
        path = (url["path"] or "/").rstrip("/") or "/"
        if path not in HEALTH_ROUTES:
            report.problem(
                f"{where}: probes {path}, which is not a health route of {component.name} "
                f"({', '.join(HEALTH_ROUTES)})"
            )
        probed = int(url["port"] or 80)
        if port is not None and probed != port:
            report.problem(
                f"{where}: probes port {probed}, but {component.name} listens on {port} "
                f"({variable(component.port_field or '')})"
            )
