"""Rules on the images the Dockerfile builds, one build (set of build arguments) at a time."""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

from deploy.check import runtime
from deploy.check.components import COMPONENTS, LISTEN_VARIABLES, Component
from deploy.check.context import DOCKERIGNORE, BuildContext
from deploy.check.dockerfile import DOCKERFILE, Image, Instruction, copy_parts, read_image
from deploy.check.report import Report

ROOT_FILES = ("pyproject.toml", "uv.lock")
ROOT_USERS = frozenset({"root", "0", ""})
_SHELL_OPERATORS = frozenset({"&&", "||", ";", "|"})


def _check_user(image: Image, report: Report) -> None:
    if image.user is None:
        report.problem(f"{image.where()}: no USER: the container would run as root")
    elif image.user.split(":")[0] in ROOT_USERS:
        report.problem(f"{image.where()}: USER {image.user}: the container would run as root")


def _commands(run: str) -> Iterator[list[str]]:
    """The simple commands of a RUN (shell form), its --mount/--network options left out."""
    words = shlex.split(run)
    while words and words[0].startswith("--"):
        words.pop(0)
    command: list[str] = []
    for word in [*words, ";"]:
        if word in _SHELL_OPERATORS:
            yield command
            command = []
        else:
            command.append(word)


def _uv_syncs(image: Image) -> Iterator[tuple[Instruction, list[str]]]:
    for stage in image.stages:
        for instruction in stage.instructions:
            if instruction.keyword == "RUN":
                for command in _commands(instruction.value):
                    if command[:2] == ["uv", "sync"]:
                        yield instruction, command


def _packages(command: list[str]) -> list[str]:
    named = [value for flag, value in pairwise(command) if flag == "--package"]
    return named + [w.removeprefix("--package=") for w in command if w.startswith("--package=")]


def _check_install(image: Image, component: Component, report: Report) -> None:
    """Only the component's distribution (and tasktrail-shared, its dependency), from the lock."""
    syncs = list(_uv_syncs(image))
    if not any(component.distribution in _packages(command) for _, command in syncs):
        report.problem(
            f"{image.where()}: does not install {component.distribution} from the lock "
            f"(uv sync --frozen --package {component.distribution})"
        )
    for instruction, command in syncs:
        where = image.where(instruction.line)
        packages = _packages(command)
        if "--all-packages" in command or not packages:
            report.problem(f"{where}: uv sync installs every workspace member")
        for other in sorted(set(packages) - {component.distribution}):
            report.problem(f"{where}: installs {other} into the {component.name} image")
        if not {"--frozen", "--locked"} & set(command):
            report.problem(
                f"{where}: uv sync without --frozen may resolve anew, not install uv.lock"
            )


def _allowed(path: str, component: Component) -> bool:
    trees = ("shared", component.directory)
    return path in ROOT_FILES or any(path == t or path.startswith(f"{t}/") for t in trees)


def _copy_problem(component: Component, source: str, context: BuildContext) -> str | None:
    """What is wrong with copying ``source`` from the build context into the image, if any."""
    path = posixpath.normpath(source.lstrip("/"))
    if not _allowed(path, component):
        return (
            f"{source}: the {component.name} image may copy only {', '.join(ROOT_FILES)}, "
            f"shared/ and {component.directory}/"
        )
    if not (context.root / path).exists():
        return f"{source} does not exist"
    if context.excludes(path):
        return f"{source} is excluded from the build context by {DOCKERIGNORE}"
    return None


def _check_copies(
    image: Image, component: Component, context: BuildContext, report: Report
) -> None:
    for stage in image.stages:
        for instruction in stage.instructions:
            if instruction.keyword not in ("COPY", "ADD"):
                continue
            flags, sources = copy_parts(instruction.value)
            for source in [] if "from" in flags else sources:
                found = _copy_problem(component, source, context)
                if found:
                    report.problem(
                        f"{image.where(instruction.line)}: {instruction.keyword} {found}"
                    )


def _check_service(image: Image, component: Component, report: Report) -> None:
    """A service's image: exec-form CMD, listening on all interfaces, probed and exposed there."""
    where = image.where()
    if not image.exec_form:
        report.problem(f"{where}: CMD must be in exec form, so that SIGTERM reaches the service")
    runtime.check_listening(component, image.env, f"{where}: ENV", report)
    port = runtime.port_of(component, image.env)
    if image.healthcheck is not None:
        probe = image.probe(image.env)
        runtime.check_probe(component, probe, port, f"{where}: HEALTHCHECK", report)
    if port and port not in image.expose:
        report.problem(f"{where}: EXPOSE {sorted(image.expose)} leaves out the port {port}")


def check_image(
    root: Path, image: Image, component: Component, context: BuildContext, report: Report
) -> None:
    """Every rule on one image."""
    _check_user(image, report)
    _check_install(image, component, report)
    _check_copies(image, component, context, report)
    own = [name for name in image.env if name.upper() not in LISTEN_VARIABLES]
    runtime.check_names(component, own, f"{image.where()}: ENV", report)
    runtime.check_values(component, image.env, f"{image.where()}: ENV", report)
    if image.healthcheck is None:
        report.problem(f"{image.where()}: no HEALTHCHECK")
    if not image.program:
        report.problem(f"{image.where()}: no CMD")
    else:
        runtime.check_program(root, component, image.program, f"{image.where()}: CMD", report)
    if component.listens:
        _check_service(image, component, report)


class Builds:
    """The images the compose files build, each read and checked once."""

    def __init__(self, root: Path, context: BuildContext, report: Report) -> None:
        self.root = root
        self.context = context
        self.report = report
        self._images: dict[tuple[tuple[tuple[str, str], ...], str | None], Image] = {}

    def image(self, build_args: dict[str, str], target: str | None) -> Image:
        """The image of that build; the component named by SERVICE must exist."""
        key = (tuple(sorted(build_args.items())), target)
        if key not in self._images:
            image = read_image(self.root / DOCKERFILE, build_args, target)
            check_image(self.root, image, COMPONENTS[image.service], self.context, self.report)
            self._images[key] = image
        return self._images[key]
