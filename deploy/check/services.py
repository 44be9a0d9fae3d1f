"""Rules on the services of one compose model (compose.yaml, or it merged with an override)."""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from deploy.check import runtime
from deploy.check.components import COMPONENTS, PREFIX, Component, variable
from deploy.check.compose import as_mapping, image_name
from deploy.check.dockerfile import DOCKERFILE, Image
from deploy.check.images import Builds
from deploy.check.report import Report
from deploy.check.stream import check_stream

Service = Mapping[str, Any]


def _words(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(word) for word in value]
    return shlex.split(str(value)) if value else []


def _check_foreign(service: Service, where: str, report: Report) -> None:
    """A service that builds nothing here runs no tasktrail image and gets no TASKTRAIL_*."""
    image = str(service.get("image", ""))
    if image_name(image).startswith("tasktrail-"):
        report.problem(f"{where}: runs {image} without building it from the {DOCKERFILE}")
    for name in as_mapping(service.get("environment")):
        if name.upper().startswith(PREFIX):
            report.problem(f"{where}: sets {name}, but runs no tasktrail component")


def _built(
    service: Service, builds: Builds, where: str, report: Report
) -> tuple[Component, Image] | None:
    """The component and image a service builds: from the repository root with its
    Dockerfile, the build argument SERVICE naming the component, the image named after it."""
    build = {"context": service["build"]} if isinstance(service["build"], str) else service["build"]
    context = posixpath.normpath(str(build.get("context", ".")))
    dockerfile = posixpath.normpath(str(build.get("dockerfile", DOCKERFILE)))
    if (context, dockerfile) != (".", DOCKERFILE):
        report.problem(f"{where}: builds {context}/{dockerfile}, not the repository's {DOCKERFILE}")
        return None
    args = {
        key: str(value) for key, value in as_mapping(build.get("args")).items() if value is not None
    }
    component = COMPONENTS.get(args.get("SERVICE", ""))
    if component is None:
        report.problem(
            f"{where}: build argument SERVICE={args.get('SERVICE', '')!r} names no component "
            f"({', '.join(COMPONENTS)})"
        )
        return None
    image = str(service.get("image") or component.distribution)
    if image_name(image) != component.distribution:
        report.problem(f"{where}: image {image} is built with SERVICE={component.name}")
    return component, builds.image(args, build.get("target"))


def _variables(
    component: Component, image: Image, service: Service, where: str, report: Report
) -> dict[str, str]:
    """The variables the container starts with: the image's, then the service's."""
    given = as_mapping(service.get("environment"))
    runtime.check_names(component, given, f"{where}: environment", report)
    variables = {
        **image.env,
        **{key: str(value) for key, value in given.items() if value is not None},
    }
    runtime.check_values(component, variables, f"{where}: environment", report)
    return variables


def _check_command(
    root: Path, component: Component, image: Image, service: Service, where: str, report: Report
) -> None:
    if "command" not in service and "entrypoint" not in service:
        return  # the image's, checked with the image
    entrypoint = _words(service["entrypoint"]) if "entrypoint" in service else image.entrypoint
    command = _words(service["command"]) if "command" in service else image.command
    runtime.check_program(root, component, entrypoint + command, f"{where}: command", report)


def _probe(healthcheck: Mapping[str, Any]) -> str | None:
    """The probe of a compose ``healthcheck.test``, None when it keeps the image's."""
    words = _words(healthcheck.get("test"))
    if not words:
        return None
    return " ".join(words[1:] if words[0] in ("CMD", "CMD-SHELL") else words)


def _port_target(entry: Any) -> str:
    if isinstance(entry, Mapping):
        return str(entry.get("target"))
    return str(entry).split("/")[0].rsplit(":", 1)[-1]


def _check_health(
    component: Component,
    image: Image,
    service: Service,
    variables: Mapping[str, str],
    where: str,
    report: Report,
) -> None:
    """A service listens on all interfaces, is probed on a health route of its port, and
    what compose publishes goes to that port."""
    healthcheck = service.get("healthcheck") or {}
    probe = _probe(healthcheck)
    if healthcheck.get("disable") or probe == "NONE":
        report.problem(f"{where}: health check turned off")
        return
    runtime.check_listening(component, variables, f"{where}: environment", report)
    port = runtime.port_of(component, variables)
    source = f"{where}: healthcheck" if probe else f"{where}: HEALTHCHECK of {image.where()}"
    runtime.check_probe(component, probe or image.probe(variables), port, source, report)
    for entry in service.get("ports") or []:
        if _port_target(entry) != str(port):
            report.problem(
                f"{where}: ports {entry} targets {_port_target(entry)}, but {component.name} "
                f"listens on {port} ({variable(component.port_field or '')})"
            )


def _check_service(
    root: Path, name: str, service: Service, builds: Builds, report: Report
) -> tuple[Component, dict[str, str]] | None:
    """Every rule on one service; the component it runs and its variables, if any."""
    where = f"service {name!r}"
    if "build" not in service:
        _check_foreign(service, where, report)
        return None
    built = _built(service, builds, where, report)
    if built is None:
        return None
    component, image = built
    variables = _variables(component, image, service, where, report)
    _check_command(root, component, image, service, where, report)
    if component.listens:
        _check_health(component, image, service, variables, where, report)
    return component, variables


def _check_coverage(
    services: Mapping[str, Service], running: Mapping[str, tuple[Component, Any]], report: Report
) -> None:
    """Each of the five services is run, and without a profile."""
    for component in (c for c in COMPONENTS.values() if c.listens):
        names = [name for name, (runs, _) in running.items() if runs == component]
        if not names:
            report.problem(f"no service builds {component.name} (build argument SERVICE)")
        for name in names:
            if services[name].get("profiles"):
                report.problem(f"service {name!r}: {component.name} runs only under a profile")


def check_services(root: Path, model: Mapping[str, Any], builds: Builds) -> list[str]:
    """The problems of one compose model, not yet labelled with the files it comes from."""
    report = Report()
    services: Mapping[str, Service] = model.get("services") or {}
    running: dict[str, tuple[Component, dict[str, str]]] = {}
    for name, service in services.items():
        found = _check_service(root, name, service, builds, report)
        if found is not None:
            running[name] = found
    _check_coverage(services, running, report)
    check_stream(services, running, report)
    return report.problems
