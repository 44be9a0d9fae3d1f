"""Static checks of the deployment files, without a container engine.

    python -m deploy.check [ROOT]

Reads ``compose.yaml`` (and ``compose.scale.yaml`` merged over it, as ``docker compose -f
compose.yaml -f compose.scale.yaml`` would), every service's ``Dockerfile``,
``devstack/Dockerfile`` and ``.dockerignore``, and checks them against the code: commands are
console scripts of the service's ``[project.scripts]``, every ``TASKTRAIL_*`` variable is a
field of that service's ``Settings``, health checks probe a real route on the configured port,
each image copies only its own directory and ``shared/``, runs as a non-root user and has a
health check. Prints one line per problem; exits 1 if there is any, else 0.

Compose ``${VAR:-default}`` references are read with their defaults, as if no variable were
set, so the result does not depend on the caller's environment.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import re
import shlex
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, cast

import yaml

COMPOSE = "compose.yaml"
COMPOSE_SCALE = "compose.scale.yaml"
DOCKERIGNORE = ".dockerignore"
SERVICES = ("collector", "projector", "control", "api")
ROOT_FILES = frozenset({"pyproject.toml", "uv.lock"})
# What every service answers on its health port (tasktrail_shared.health, and the API's own
# routes); used when the routes cannot be read from the source.
CONTRACT_ROUTES = frozenset({"/healthz", "/readyz"})
LISTEN_ALL = frozenset({"0.0.0.0", "::", "[::]"})
# The stream settings every process that may create or update the stream must agree on.
STREAM_SETTINGS = ("stream", "stream_max_age_days", "stream_max_bytes", "stream_replicas")
# Paths the build context must never carry.
MUST_BE_IGNORED = (".venv/bin/python", ".git/HEAD", ".tools/bin/uv", ".data/x")

# The files the check reads, relative to ROOT (for tests that copy a repository's deployment
# files into a scratch directory).
INPUT_GLOBS = (
    COMPOSE,
    COMPOSE_SCALE,
    DOCKERIGNORE,
    "pyproject.toml",
    "uv.lock",
    "shared/pyproject.toml",
    "shared/src/tasktrail_shared/health.py",
    "shared/src/tasktrail_shared/settings.py",
    "services/*/pyproject.toml",
    "services/*/Dockerfile",
    "services/*/src/**/*.py",
    "devstack/pyproject.toml",
    "devstack/Dockerfile",
    "devstack/src/tasktrail_devstack/**/*.py",
)


# --------------------------------------------------------------------------- components


@dataclass
class Component:
    """A deployable unit: one of the four services, or the dev-only ``devstack`` image."""

    name: str
    directory: str  # relative to ROOT, e.g. "services/collector"
    distribution: str  # e.g. "tasktrail-collector"
    settings_module: str  # e.g. "tasktrail_collector.settings"
    host_field: str | None = None
    port_field: str | None = None

    @property
    def is_service(self) -> bool:
        return self.port_field is not None

    @property
    def dockerfile(self) -> str:
        return f"{self.directory}/Dockerfile"

    @property
    def package(self) -> str:
        return self.distribution.replace("-", "_")


def components() -> dict[str, Component]:
    found: dict[str, Component] = {}
    for svc in SERVICES:
        host, port = (
            ("api_host", "api_port")
            if svc == "api"
            else (
                f"{svc}_health_host",
                f"{svc}_health_port",
            )
        )
        found[svc] = Component(
            svc, f"services/{svc}", f"tasktrail-{svc}", f"tasktrail_{svc}.settings", host, port
        )
    found["devstack"] = Component(
        "devstack", "devstack", "tasktrail-devstack", "tasktrail_shared.settings"
    )
    return found


@dataclass
class SettingsInfo:
    """What the environment may set for one component."""

    env_to_field: dict[str, str]
    defaults: dict[str, Any]
    model: Any


def _settings_class(root: Path, comp: Component) -> Any:
    """The component's Settings class, loaded from ROOT's source when it is there."""
    if comp.name == "devstack":
        rel = Path("shared/src/tasktrail_shared/settings.py")
        attr = "CommonSettings"
    else:
        rel = Path(comp.directory, "src", comp.package, "settings.py")
        attr = "Settings"
    path = root / rel
    if path.is_file():
        digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
        name = f"_deploy_check_{comp.name}_{digest}"
        module = sys.modules.get(name)
        if module is None:
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
    else:
        module = importlib.import_module(comp.settings_module)
    return getattr(module, attr)


def settings_info(root: Path, comp: Component) -> SettingsInfo:
    cls = _settings_class(root, comp)
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    env_to_field: dict[str, str] = {}
    defaults: dict[str, Any] = {}
    for name, info in cls.model_fields.items():
        env_to_field[f"{prefix}{name}".upper()] = name
        for alias in (info.alias, info.validation_alias):
            if isinstance(alias, str):
                env_to_field[alias.upper()] = name
        defaults[name] = info.get_default(call_default_factory=True)
    return SettingsInfo(env_to_field, defaults, cls)


def console_scripts(root: Path, comp: Component) -> dict[str, str]:
    path = root / comp.directory / "pyproject.toml"
    data = tomllib.loads(path.read_text())
    scripts = data.get("project", {}).get("scripts", {})
    return {str(k): str(v) for k, v in scripts.items()}


def module_file(root: Path, comp: Component, module: str) -> Path | None:
    """The source file of ``module`` inside the component's ``src``, if it exists."""
    base = root / comp.directory / "src" / Path(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def uses_stream(root: Path, comp: Component) -> bool:
    """Does the service create or update the stream (``Settings.stream_settings()``)?"""
    src = root / comp.directory / "src"
    if not src.is_dir():
        return True
    return any("stream_settings(" in path.read_text(errors="replace") for path in src.rglob("*.py"))


_SHARED_ROUTE = re.compile(r"""path\s*==\s*["'](/[^"']*)["']""")
_FASTAPI_ROUTE = re.compile(r"""\.(?:get|head|api_route|add_api_route)\(\s*["'](/[^"']*)["']""")


def health_routes(root: Path, comp: Component) -> tuple[frozenset[str], str | None]:
    """The health paths served on the component's port, read from the source, and a note
    when the source does not say (then the documented ``/healthz`` and ``/readyz``)."""
    if comp.name == "api":
        src = root / comp.directory / "src"
        found: set[str] = set()
        for path in sorted(src.rglob("*.py")) if src.is_dir() else []:
            found.update(_FASTAPI_ROUTE.findall(path.read_text(errors="replace")))
        if found:
            return frozenset(found & CONTRACT_ROUTES), None
        return CONTRACT_ROUTES, f"no routes found under {comp.directory}/src"
    health = root / "shared/src/tasktrail_shared/health.py"
    if health.is_file():
        found = set(_SHARED_ROUTE.findall(health.read_text(errors="replace")))
        if found:
            return frozenset(found & CONTRACT_ROUTES), None
    return CONTRACT_ROUTES, "no routes found in shared/src/tasktrail_shared/health.py"


# --------------------------------------------------------------------------- reporting


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def problem(self, message: str) -> None:
        if message not in self.problems:
            self.problems.append(message)

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    @property
    def ok(self) -> bool:
        return not self.problems


# --------------------------------------------------------------------------- Dockerfiles


@dataclass
class Instruction:
    keyword: str
    args: str
    line: int


@dataclass
class Stage:
    name: str | None
    base: str
    line: int
    instructions: list[Instruction] = field(default_factory=list)


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with continuation lines joined and comments dropped."""
    out: list[Instruction] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not buffer and (not stripped or stripped.startswith("#")):
            continue
        if buffer and stripped.startswith("#"):
            continue  # comment lines inside a continuation are dropped by the builder
        if not buffer:
            start = number
        if stripped.endswith("\\"):
            buffer.append(stripped[:-1])
            continue
        buffer.append(stripped)
        joined = " ".join(part.strip() for part in buffer if part.strip())
        buffer = []
        keyword, _, args = joined.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
    if buffer:
        joined = " ".join(part.strip() for part in buffer if part.strip())
        keyword, _, args = joined.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip(), start))
    return out


def stages_of(instructions: list[Instruction]) -> list[Stage]:
    stages: list[Stage] = []
    for ins in instructions:
        if ins.keyword == "FROM":
            words = [w for w in ins.args.split() if not w.startswith("--")]
            base = words[0] if words else ""
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append(Stage(name, base, ins.line))
        elif stages:
            stages[-1].instructions.append(ins)
    return stages


def split_flags(args: str) -> tuple[list[tuple[str, str]], str]:
    """Leading ``--flag=value`` / ``--flag`` options, in order, and the rest of the arguments."""
    flags: list[tuple[str, str]] = []
    rest = args
    while rest.startswith("--"):
        token, _, rest = rest.partition(" ")
        key, _, value = token[2:].partition("=")
        flags.append((key, value))
        rest = rest.lstrip()
    return flags, rest


def exec_or_shell(args: str) -> tuple[list[str], bool]:
    """Arguments of CMD/ENTRYPOINT/HEALTHCHECK CMD: (words, is_exec_form)."""
    stripped = args.strip()
    if stripped.startswith("["):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError:
            pass
        else:
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return list(value), True
    try:
        return shlex.split(stripped), False
    except ValueError:
        return stripped.split(), False


def parse_env(args: str) -> dict[str, str]:
    """``ENV a=1 b=2`` or the legacy ``ENV a 1``."""
    try:
        words = shlex.split(args)
    except ValueError:
        words = args.split()
    if words and "=" not in words[0]:
        return {words[0]: " ".join(words[1:])}
    env: dict[str, str] = {}
    for word in words:
        key, _, value = word.partition("=")
        env[key] = value
    return env


@dataclass
class Image:
    """What the final stage of a Dockerfile runs with."""

    path: str
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    healthcheck: str | None = None  # the probe command, "NONE", or None when absent
    command: list[str] | None = None
    command_exec_form: bool = True
    entrypoint: list[str] | None = None
    expose: set[int] = field(default_factory=set)


def final_image(path: str, stages: list[Stage]) -> Image:
    """Fold the final stage, and the stages it is built ``FROM``, into an :class:`Image`."""
    image = Image(path)
    by_name = {s.name: s for s in stages if s.name}
    chain: list[Stage] = []
    stage: Stage | None = stages[-1] if stages else None
    while stage is not None and stage not in chain:
        chain.append(stage)
        stage = by_name.get(stage.base)
    for stage in reversed(chain):
        for ins in stage.instructions:
            if ins.keyword == "ENV":
                image.env.update(parse_env(ins.args))
            elif ins.keyword == "USER":
                image.user = ins.args.strip()
            elif ins.keyword == "HEALTHCHECK":
                if ins.args.strip().upper() == "NONE":
                    image.healthcheck = "NONE"
                else:
                    _, rest = split_flags(ins.args)
                    keyword, _, probe = rest.partition(" ")
                    image.healthcheck = probe.strip() if keyword.upper() == "CMD" else rest
            elif ins.keyword == "CMD":
                image.command, image.command_exec_form = exec_or_shell(ins.args)
            elif ins.keyword == "ENTRYPOINT":
                image.entrypoint, _ = exec_or_shell(ins.args)
            elif ins.keyword == "EXPOSE":
                for word in ins.args.split():
                    port = word.split("/")[0]
                    if port.isdigit():
                        image.expose.add(int(port))
    return image


def _is_root_user(user: str) -> bool:
    name = user.split(":")[0].strip()
    return name in {"root", "0", ""}


_URL = re.compile(
    r"""https?://(?P<host>\[[^\]]+\]|[^/:'"\s]+)(?::(?P<port>\d+))?(?P<path>/[^'"\s?#)]*)?"""
)


def probe_urls(command: str) -> list[tuple[int | None, str]]:
    return [
        (int(m["port"]) if m["port"] else None, m["path"] or "/") for m in _URL.finditer(command)
    ]


def _normalise_source(source: str) -> str:
    path = PurePosixPath(source.lstrip("/"))
    parts = [p for p in path.parts if p not in ("", ".")]
    return "/".join(parts) if parts else "."


def allowed_source(source: str, comp: Component) -> bool:
    """May ``comp``'s image copy ``source`` from the build context?"""
    norm = _normalise_source(source)
    if norm in ROOT_FILES:
        return True
    literal = re.split(r"[*?\[]", norm, maxsplit=1)[0]
    has_glob = literal != norm
    for allowed in ("shared", comp.directory):
        if norm == allowed and not has_glob:
            return True
        if literal.startswith(allowed + "/"):
            return True
    return False


def copy_sources(ins: Instruction) -> tuple[set[str], list[str]]:
    """The flag names and the source paths of a COPY/ADD."""
    flags, rest = split_flags(ins.args)
    words, _ = exec_or_shell(rest)
    return {key for key, _ in flags}, words[:-1]


def bind_mount_sources(ins: Instruction) -> list[str]:
    """``RUN --mount=type=bind,source=X`` from the build context (no ``from=``)."""
    flags, _ = split_flags(ins.args)
    sources: list[str] = []
    for key, value in flags:
        if key != "mount":
            continue
        options = dict(part.partition("=")[::2] for part in value.split(","))
        if options.get("type", "bind") != "bind" or "from" in options:
            continue
        sources.append(options.get("source") or options.get("src") or ".")
    return sources


def check_dockerfile(
    root: Path, comp: Component, report: Report, ignore: DockerIgnore | None
) -> Image | None:
    rel = comp.dockerfile
    path = root / rel
    if not path.is_file():
        report.problem(f"{rel}: missing (each component is built from its own Dockerfile)")
        return None
    stages = stages_of(parse_dockerfile(path.read_text()))
    if not stages:
        report.problem(f"{rel}: no FROM instruction")
        return None
    settings = settings_info(root, comp)
    installs_own_package = False
    for stage in stages:
        for ins in stage.instructions:
            where = f"{rel}:{ins.line}"
            if ins.keyword in ("COPY", "ADD"):
                flags, sources = copy_sources(ins)
                if "from" in flags:
                    continue  # from another stage or image, not from the build context
                for source in sources:
                    if not allowed_source(source, comp):
                        report.problem(
                            f"{where}: {ins.keyword} {source}: the {comp.name} image may copy "
                            f"only {comp.directory}/, shared/, pyproject.toml and uv.lock"
                        )
                        continue
                    _check_source_exists(root, source, where, report, ignore)
            elif ins.keyword == "RUN":
                for source in bind_mount_sources(ins):
                    if not allowed_source(source, comp):
                        report.problem(
                            f"{where}: RUN --mount source={source}: the {comp.name} image may "
                            f"use only {comp.directory}/, shared/, pyproject.toml and uv.lock"
                        )
                _, command = split_flags(ins.args)
                installs_own_package |= _check_install(command, comp, where, report)
    if not installs_own_package:
        report.problem(
            f"{rel}: does not install {comp.distribution} from the lock "
            f"(`uv sync --frozen --no-dev --package {comp.distribution}` or `uv export`)"
        )

    image = final_image(rel, stages)
    last = stages[-1]
    where = f"{rel} (final stage, line {last.line})"
    if image.user is None:
        report.problem(f"{where}: no USER instruction: the container would run as root")
    elif _is_root_user(image.user):
        report.problem(f"{where}: USER {image.user}: the container would run as root")
    if image.healthcheck is None or image.healthcheck == "NONE":
        report.problem(f"{where}: no HEALTHCHECK")
    for key in image.env:
        _check_env_name(key, comp, settings, f"{rel}: ENV", report)
    program = (image.entrypoint or []) + (image.command or [])
    if not program:
        report.problem(f"{where}: no CMD")
    elif comp.is_service and not image.command_exec_form:
        report.problem(f"{where}: CMD must use the exec form (signals reach the process)")
    if program:
        _check_program(root, comp, program, f"{rel}: CMD", report)
    if comp.is_service:
        _check_listen(comp, settings, image.env, f"{rel}: ENV", report, require_env=True)
        port = _effective_port(comp, settings, image.env)
        if image.healthcheck and image.healthcheck != "NONE":
            _check_probe(root, comp, image.healthcheck, port, f"{rel}: HEALTHCHECK", report)
        if port is not None and image.expose and port not in image.expose:
            report.problem(
                f"{rel}: EXPOSE {sorted(image.expose)} does not include the configured "
                f"port {port} ({_env_name(comp.port_field)})"
            )
    return image


def _check_install(command: str, comp: Component, where: str, report: Report) -> bool:
    """Checks a RUN command that installs workspace packages; True if it installs comp's."""
    if not re.search(r"\buv\s+(sync|export|pip\s+install)\b", command):
        return False
    packages = re.findall(r"--package[=\s]+([A-Za-z0-9_.-]+)", command)
    for package in packages:
        if package != comp.distribution:
            report.problem(f"{where}: installs {package}; this image is {comp.distribution}")
    if re.search(r"\buv\s+(sync|export)\b", command) and not packages:
        report.problem(f"{where}: uv without --package {comp.distribution} installs the workspace")
    if "--all-packages" in command:
        report.problem(f"{where}: --all-packages installs every workspace member")
    is_lock_read = re.search(r"\buv\s+(sync|export)\b", command) is not None
    if is_lock_read and not re.search(r"--(frozen|locked)\b", command):
        report.problem(f"{where}: uv without --frozen or --locked may re-resolve the lock")
    return comp.distribution in packages


def _check_source_exists(
    root: Path, source: str, where: str, report: Report, ignore: DockerIgnore | None
) -> None:
    norm = _normalise_source(source)
    if re.search(r"[*?\[]", norm):
        return
    target = root / norm
    if not target.exists():
        report.problem(f"{where}: COPY source {source} does not exist")
        return
    if ignore is None:
        return
    sample = norm
    if target.is_dir():
        inner = next(
            (
                p
                for p in sorted(target.rglob("*"))
                if p.is_file() and not ignore.excluded(p.relative_to(root).as_posix())
            ),
            None,
        )
        if inner is None:
            report.problem(f"{where}: everything under {source} is excluded by {DOCKERIGNORE}")
        return
    if ignore.excluded(sample):
        report.problem(f"{where}: COPY source {source} is excluded by {DOCKERIGNORE}")


# --------------------------------------------------------------------------- shared checks


def _env_name(field_name: str | None) -> str:
    return f"TASKTRAIL_{(field_name or '').upper()}"


def _check_env_name(
    key: str, comp: Component, settings: SettingsInfo, where: str, report: Report
) -> None:
    if not key.upper().startswith("TASKTRAIL_"):
        return
    if key.upper() not in settings.env_to_field:
        owner = (
            "tasktrail_shared.settings.CommonSettings"
            if comp.name == "devstack"
            else f"{comp.settings_module}.Settings"
        )
        report.problem(
            f"{where}: {key} is not a setting of {comp.distribution} (no field in {owner})"
        )


def _setting(comp: Component, settings: SettingsInfo, env: Mapping[str, Any], name: str) -> Any:
    for key, value in env.items():
        if settings.env_to_field.get(str(key).upper()) == name and value is not None:
            return value
    return settings.defaults.get(name)


def _effective_port(comp: Component, settings: SettingsInfo, env: Mapping[str, Any]) -> int | None:
    if comp.port_field is None:
        return None
    value = _setting(comp, settings, env, comp.port_field)
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _check_listen(
    comp: Component,
    settings: SettingsInfo,
    env: Mapping[str, Any],
    where: str,
    report: Report,
    *,
    require_env: bool,
) -> None:
    assert comp.host_field and comp.port_field
    host_env, port_env = _env_name(comp.host_field), _env_name(comp.port_field)
    host = _setting(comp, settings, env, comp.host_field)
    if str(host) not in LISTEN_ALL:
        hint = f"set {host_env}=0.0.0.0" if require_env else f"{host_env} is {host}"
        report.problem(
            f"{where}: {comp.name} would listen on {host} only, unreachable from "
            f"outside the container ({hint})"
        )
    port = _effective_port(comp, settings, env)
    if port is None:
        value = _setting(comp, settings, env, comp.port_field)
        report.problem(f"{where}: {port_env}={value!r} is not a port number")
    elif port == 0:
        report.problem(f"{where}: {port_env}=0 turns the health endpoint off")


def _check_probe(
    root: Path, comp: Component, probe: str, port: int | None, where: str, report: Report
) -> None:
    urls = probe_urls(probe)
    if not urls:
        report.problem(f"{where}: does not probe an HTTP health endpoint of {comp.name}")
        return
    routes, note = health_routes(root, comp)
    if note:
        report.warn(f"{where}: {note}; assuming {', '.join(sorted(CONTRACT_ROUTES))}")
    for url_port, path in urls:
        normal = path.rstrip("/") or "/"
        if normal not in routes:
            report.problem(
                f"{where}: probes {path}, which is not a route of {comp.name} "
                f"(health routes: {', '.join(sorted(routes)) or 'none'})"
            )
        if port is not None and (url_port or 80) != port:
            report.problem(
                f"{where}: probes port {url_port or 80} but {comp.name} listens on {port} "
                f"({_env_name(comp.port_field)})"
            )


_CELERY_APP = re.compile(r"^(?:-A|--app)(?:=(.+))?$")


def _check_program(
    root: Path, comp: Component, program: list[str], where: str, report: Report
) -> None:
    """The command must be one of the component's console scripts (or, for the devstack
    image, ``celery -A <module>`` / ``python -m <module>`` of a module it ships)."""
    scripts = console_scripts(root, comp)
    executable = PurePosixPath(program[0]).name
    if executable in scripts:
        target = scripts[executable].split(":")[0]
        if module_file(root, comp, target) is None:
            report.warn(
                f"{where}: {executable} runs {target}, not found under {comp.directory}/src"
            )
        return
    if comp.is_service:
        report.problem(
            f"{where}: {program[0]!r} is not a console script of {comp.distribution} "
            f"([project.scripts]: {', '.join(sorted(scripts)) or 'none'})"
        )
        return
    module = _module_argument(program)
    if module is None:
        report.problem(
            f"{where}: {' '.join(program)!r} runs neither a console script of "
            f"{comp.distribution} nor `celery -A`/`python -m` with one of its modules"
        )
    elif not module.startswith(comp.package + ".") or module_file(root, comp, module) is None:
        report.problem(f"{where}: module {module} is not part of {comp.distribution}")


def _module_argument(program: list[str]) -> str | None:
    executable = PurePosixPath(program[0]).name
    words = program[1:]
    if executable == "celery":
        for i, word in enumerate(words):
            match = _CELERY_APP.match(word)
            if match:
                value = match.group(1) or (words[i + 1] if i + 1 < len(words) else "")
                return value.split(":")[0] or None
    elif re.fullmatch(r"python(3(\.\d+)?)?", executable) and "-m" in words:
        i = words.index("-m")
        return words[i + 1] if i + 1 < len(words) else None
    return None


# --------------------------------------------------------------------------- .dockerignore


class DockerIgnore:
    """``.dockerignore`` patterns with the builder's semantics: the last matching pattern
    wins, ``!`` re-includes, and a pattern matching a parent directory matches its files."""

    def __init__(self, text: str) -> None:
        self.patterns: list[tuple[re.Pattern[str], bool]] = []
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:].strip()
            line = _normalise_source(line)
            self.patterns.append((re.compile(_glob_to_regex(line)), negate))

    def excluded(self, path: str) -> bool:
        parts = path.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        result = False
        for pattern, negate in self.patterns:
            if any(pattern.fullmatch(c) for c in candidates):
                result = not negate
        return result


def _glob_to_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif ch == "*":
            out.append("[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/]")
            i += 1
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(ch))
                i += 1
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end + 1
        else:
            out.append(re.escape(ch))
            i += 1
    return "".join(out)


def check_dockerignore(root: Path, report: Report) -> DockerIgnore | None:
    path = root / DOCKERIGNORE
    if not path.is_file():
        report.problem(f"{DOCKERIGNORE}: missing (the build context is the repository root)")
        return None
    ignore = DockerIgnore(path.read_text())
    for sample in MUST_BE_IGNORED:
        if not ignore.excluded(sample):
            report.problem(f"{DOCKERIGNORE}: does not exclude {sample.split('/')[0]}/")
    return ignore


# --------------------------------------------------------------------------- compose files


class Reset:
    """Compose's ``!reset`` tag: drop the value inherited from the files before."""


@dataclass
class Override:
    """Compose's ``!override`` tag: replace, rather than merge, the inherited value."""

    value: Any


class _ComposeLoader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no types
    pass


def _construct_reset(loader: yaml.SafeLoader, node: yaml.Node) -> Reset:
    return Reset()


def _construct_override(loader: yaml.SafeLoader, node: yaml.Node) -> Override:
    if isinstance(node, yaml.MappingNode):
        return Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    return Override(loader.construct_scalar(node))  # type: ignore[arg-type]


_ComposeLoader.add_constructor("!reset", _construct_reset)
_ComposeLoader.add_constructor("!override", _construct_override)

_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_]\w*))")
_BRACED = re.compile(r"^(?P<name>[A-Za-z_]\w*)(?:(?P<op>:?[-?+])(?P<arg>.*))?$", re.S)


def interpolate(value: Any, problems: list[str], where: str) -> Any:
    """Compose's ``${VAR:-default}`` interpolation, with no variable set: the defaults."""
    if isinstance(value, Override):
        return Override(interpolate(value.value, problems, where))
    if isinstance(value, dict):
        return {k: interpolate(v, problems, where) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, problems, where) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        braced = match["braced"]
        if braced is None:
            return ""
        parsed = _BRACED.match(braced)
        if parsed is None:
            problems.append(f"{where}: invalid interpolation ${{{braced}}}")
            return ""
        if parsed["op"] in (":-", "-"):
            return str(interpolate(parsed["arg"], problems, where))
        return ""

    return _VARIABLE.sub(substitute, value)


def load_compose(path: Path, report: Report) -> dict[str, Any] | None:
    name = path.name
    try:
        data = yaml.load(path.read_text(), Loader=_ComposeLoader)
    except yaml.YAMLError as exc:
        report.problem(f"{name}: not valid YAML: {' '.join(str(exc).split())}")
        return None
    if not isinstance(data, dict):
        report.problem(f"{name}: not a mapping")
        return None
    problems: list[str] = []
    data = interpolate(data, problems, name)
    for problem in problems:
        report.problem(problem)
    services = data.get("services")
    if not isinstance(services, dict) or not services:
        report.problem(f"{name}: no services")
        return None
    for svc_name, svc in services.items():
        if not isinstance(svc, dict):
            report.problem(f"{name}: service {svc_name!r} is not a mapping")
            return None
    return cast(dict[str, Any], data)


def _unwrap(value: Any) -> Any:
    if isinstance(value, Override):
        return _unwrap(value.value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [_unwrap(v) for v in value if not isinstance(v, Reset)]
    return value


def as_mapping(value: Any) -> dict[str, Any]:
    """``environment``/``labels`` as a mapping, from either of their two forms."""
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    out: dict[str, Any] = {}
    for item in value or []:
        key, sep, val = str(item).partition("=")
        out[key] = val if sep else None
    return out


def as_depends(value: Any) -> dict[str, dict[str, Any]]:
    if isinstance(value, dict):
        return {str(k): dict(v or {}) for k, v in value.items()}
    return {str(name): {"condition": "service_started"} for name in value or []}


_REPLACED = frozenset({"command", "entrypoint", "test"})  # lists that replace, not append
_MAPPINGS = frozenset({"environment", "labels", "annotations", "sysctls", "extra_hosts"})


def merge(base: Any, over: Any, key: str = "") -> Any:
    """Merge ``over`` into ``base`` as compose merges several ``-f`` files."""
    if isinstance(over, Reset):
        return None
    if isinstance(over, Override):
        return _unwrap(over.value)
    if key in _MAPPINGS:
        return {**as_mapping(base), **as_mapping(_unwrap(over))}
    if key == "depends_on":
        return {**as_depends(base), **as_depends(_unwrap(over))}
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            if isinstance(v, Reset):
                out.pop(k, None)
            elif k in out:
                out[k] = merge(out[k], v, str(k))
            else:
                out[k] = _unwrap(v)
        return out
    if isinstance(base, list) and isinstance(over, list) and key not in _REPLACED:
        out_list = list(base)
        for item in _unwrap(over):
            if item not in out_list:
                out_list.append(item)
        return out_list
    return _unwrap(over)


def merge_files(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(_unwrap(base))
    for key, value in over.items():
        if key in ("services", "volumes", "networks", "configs", "secrets"):
            section = dict(merged.get(key) or {})
            for name, entry in (value or {}).items():
                if isinstance(entry, Reset):
                    section.pop(name, None)
                elif name in section:
                    section[name] = merge(section[name], entry)
                else:
                    section[name] = _unwrap(entry)
            merged[key] = section
        else:
            merged[key] = _unwrap(value)
    return merged


@dataclass
class ComposeContext:
    root: Path
    comps: dict[str, Component]
    images: dict[str, Image | None]
    settings: dict[str, SettingsInfo]


def component_of(
    svc: Mapping[str, Any], ctx: ComposeContext, report: Report, where: str
) -> Component | None:
    build = svc.get("build")
    if build is not None:
        if isinstance(build, str):
            build = {"context": build}
        context = ctx.root / str(build.get("context", "."))
        dockerfile = context / str(build.get("dockerfile", "Dockerfile"))
        if not context.is_dir():
            report.problem(f"{where}: build context {build.get('context')} does not exist")
            return None
        if not dockerfile.is_file():
            report.problem(f"{where}: build dockerfile {build.get('dockerfile')} does not exist")
            return None
        try:
            rel = dockerfile.resolve().relative_to(ctx.root.resolve()).as_posix()
        except ValueError:
            report.problem(f"{where}: Dockerfile {dockerfile} is outside the repository")
            return None
        for comp in ctx.comps.values():
            if rel == comp.dockerfile:
                return comp
        report.problem(f"{where}: builds {rel}, which is not a tasktrail component's Dockerfile")
        return None
    image = str(svc.get("image", ""))
    for comp in ctx.comps.values():
        if image.split(":")[0].split("/")[-1] == comp.distribution:
            return comp
    return None


def _command_words(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(v) for v in value]
    try:
        return shlex.split(str(value))
    except ValueError:
        return str(value).split()


def _port_targets(ports: Iterable[Any]) -> Iterator[tuple[str, int | None]]:
    for entry in ports:
        if isinstance(entry, dict):
            target = entry.get("target")
            yield str(entry), int(str(target)) if str(target).isdigit() else None
            continue
        text = str(entry).split("/")[0]
        target = text.rsplit(":", 1)[-1]
        if "-" in target:
            yield str(entry), None  # a target range: cannot be a single service port
        else:
            yield str(entry), int(target) if target.isdigit() else None


def _healthcheck_probe(hc: Mapping[str, Any]) -> str | None:
    test = hc.get("test")
    if test is None:
        return None
    words = _command_words(test)
    if words and words[0] in ("CMD", "CMD-SHELL"):
        words = words[1:]
    if words == ["NONE"]:
        return "NONE"
    return " ".join(words)


def _has_healthcheck(svc: Mapping[str, Any], comp: Component | None, ctx: ComposeContext) -> bool:
    hc = svc.get("healthcheck") or {}
    if hc.get("disable"):
        return False
    probe = _healthcheck_probe(hc)
    if probe is not None:
        return probe != "NONE"
    image = ctx.images.get(comp.name) if comp else None
    return bool(image and image.healthcheck and image.healthcheck != "NONE")


def check_compose_model(
    label: str, model: dict[str, Any], ctx: ComposeContext, report: Report, seen: set[str]
) -> None:
    """Checks one (possibly merged) compose model; ``seen`` skips problems already reported
    for an earlier model, so the merged model adds only what the override changed."""
    local = Report()
    services: dict[str, dict[str, Any]] = model["services"]
    volumes = set((model.get("volumes") or {}).keys())
    comp_of: dict[str, Component | None] = {}
    unresolved: set[str] = set()
    for name, svc in services.items():
        before = len(local.problems)
        comp_of[name] = component_of(svc, ctx, local, f"service {name!r}")
        if len(local.problems) > before:
            unresolved.add(name)  # its build is broken: do not also report its settings

    stream: dict[str, dict[str, Any]] = {}
    nats_servers = [n for n, s in services.items() if str(s.get("image", "")).startswith("nats")]
    server_names: dict[str, str] = {}

    for name, svc in services.items():
        where = f"service {name!r}"
        comp = comp_of[name]
        profiles = set(svc.get("profiles") or [])
        # depends_on
        for dep, spec in as_depends(svc.get("depends_on")).items():
            if dep not in services:
                local.problem(f"{where}: depends_on {dep!r}, which is not a service")
                continue
            condition = spec.get("condition", "service_started")
            if condition not in (
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            ):
                local.problem(f"{where}: depends_on {dep!r} with unknown condition {condition}")
            if condition == "service_healthy" and not _has_healthcheck(
                services[dep], comp_of[dep], ctx
            ):
                local.problem(
                    f"{where}: waits for {dep!r} to be healthy, but it has no health check"
                )
            dep_profiles = set(services[dep].get("profiles") or [])
            if dep_profiles and not (profiles and profiles <= dep_profiles):
                local.problem(
                    f"{where}: depends on {dep!r}, which only runs with profile(s) "
                    f"{', '.join(sorted(dep_profiles))}"
                )
        # named volumes must be declared
        for mount in svc.get("volumes") or []:
            if isinstance(mount, dict):
                if mount.get("type", "volume") != "volume":
                    continue
                source = str(mount.get("source") or "")
            else:
                parts = str(mount).split(":")
                source = parts[0] if len(parts) > 1 else ""  # one part: anonymous volume
            if source and not source.startswith((".", "/", "~")) and source not in volumes:
                local.problem(f"{where}: volume {source!r} is not declared under volumes:")
        # NATS cluster nodes need distinct server names for JetStream
        if name in nats_servers:
            words = _command_words(svc.get("command") or [])
            if any(w in ("--cluster", "--routes") for w in words):
                server = next(
                    (
                        words[i + 1]
                        for i, w in enumerate(words[:-1])
                        if w in ("--name", "-n", "--server_name")
                    ),
                    None,
                )
                if server is None:
                    local.problem(f"{where}: clustered NATS needs --name for JetStream")
                elif server in server_names:
                    local.problem(
                        f"{where}: NATS --name {server} is also used by {server_names[server]!r}"
                    )
                else:
                    server_names[server] = name

        env = as_mapping(svc.get("environment"))
        if name in unresolved:
            continue
        if comp is None:
            for key in env:
                if key.upper().startswith("TASKTRAIL_"):
                    local.problem(f"{where}: sets {key} but is not a tasktrail component")
            continue

        settings = ctx.settings[comp.name]
        image = ctx.images.get(comp.name)
        effective = {
            **(image.env if image else {}),
            **{k: v for k, v in env.items() if v is not None},
        }
        for key in env:
            _check_env_name(key, comp, settings, f"{where}: environment", local)
        _validate_values(comp, settings, effective, f"{where}: environment", local)

        # command
        if "command" in svc or "entrypoint" in svc:
            program = _command_words(svc.get("entrypoint") or []) or (
                image.entrypoint if image and image.entrypoint else []
            )
            program = program + _command_words(svc.get("command") or [])
            if program:
                _check_program(ctx.root, comp, program, f"{where}: command", local)

        if not comp.is_service:
            continue
        for field_name in STREAM_SETTINGS if uses_stream(ctx.root, comp) else ():
            stream.setdefault(field_name, {})[name] = _setting(
                comp, settings, effective, field_name
            )
        _check_listen(comp, settings, effective, f"{where}: environment", local, require_env=False)
        port = _effective_port(comp, settings, effective)
        hc = svc.get("healthcheck") or {}
        if hc.get("disable"):
            local.problem(f"{where}: health check disabled")
        probe = _healthcheck_probe(hc)
        if probe is not None and probe != "NONE":
            _check_probe(ctx.root, comp, probe, port, f"{where}: healthcheck", local)
        elif probe == "NONE":
            local.problem(f"{where}: health check disabled")
        elif image and image.healthcheck and image.healthcheck != "NONE":
            _check_probe(
                ctx.root,
                comp,
                image.healthcheck,
                port,
                f"{where}: HEALTHCHECK of {comp.dockerfile}",
                local,
            )
        for entry, target in _port_targets(svc.get("ports") or []):
            if target != port:
                local.problem(
                    f"{where}: ports {entry} targets {target}, but {comp.name} listens "
                    f"on {port} ({_env_name(comp.port_field)})"
                )

    # every process that creates or updates the stream must ask for the same stream
    for field_name, values in stream.items():
        distinct = {str(v) for v in values.values()}
        if len(distinct) > 1:
            detail = ", ".join(f"{n}={v}" for n, v in sorted(values.items()))
            local.problem(f"{_env_name(field_name)} differs between services ({detail})")
    for svc_name, replicas in (stream.get("stream_replicas") or {}).items():
        try:
            wanted = int(replicas)
        except (TypeError, ValueError):
            continue
        if nats_servers and wanted > len(nats_servers):
            local.problem(
                f"service {svc_name!r}: TASKTRAIL_STREAM_REPLICAS={wanted} but only "
                f"{len(nats_servers)} NATS server(s)"
            )

    for message in local.problems:
        if message not in seen:
            seen.add(message)
            report.problem(f"{label}: {message}")
    for message in local.warnings:
        report.warn(f"{label}: {message}")


def _validate_values(
    comp: Component, settings: SettingsInfo, env: Mapping[str, Any], where: str, report: Report
) -> None:
    """The values must also be accepted by the Settings class (types, validators)."""
    values = {
        settings.env_to_field[str(k).upper()]: v
        for k, v in env.items()
        if str(k).upper() in settings.env_to_field and v is not None
    }
    try:
        settings.model.model_validate(values)
    except Exception as exc:  # pydantic.ValidationError, or a validator's own error
        first = str(exc).strip().splitlines()
        report.problem(
            f"{where}: rejected by {comp.distribution}'s Settings: "
            f"{' '.join(line.strip() for line in first[:3])}"
        )


# --------------------------------------------------------------------------- entry points


def run(root: Path) -> Report:
    report = Report()
    root = root.resolve()
    comps = components()
    ignore = check_dockerignore(root, report)

    settings: dict[str, SettingsInfo] = {}
    for comp in comps.values():
        try:
            settings[comp.name] = settings_info(root, comp)
        except Exception as exc:
            report.problem(f"{comp.settings_module}: cannot load Settings: {exc!r}")
    if len(settings) != len(comps):
        return report

    images: dict[str, Image | None] = {}
    for comp in comps.values():
        images[comp.name] = check_dockerfile(root, comp, report, ignore)

    ctx = ComposeContext(root, comps, images, settings)
    compose_path = root / COMPOSE
    if not compose_path.is_file():
        report.problem(f"{COMPOSE}: missing")
        return report
    base = load_compose(compose_path, report)
    if base is None:
        return report
    seen: set[str] = set()
    base_model = _unwrap(base)
    check_compose_model(COMPOSE, base_model, ctx, report, seen)
    _check_demo(base_model, comps, report)

    scale_path = root / COMPOSE_SCALE
    if scale_path.is_file():
        over = load_compose(scale_path, report)
        if over is not None:
            merged = merge_files(base, over)
            check_compose_model(f"{COMPOSE} + {COMPOSE_SCALE}", merged, ctx, report, seen)
    return report


def _check_demo(model: dict[str, Any], comps: dict[str, Component], report: Report) -> None:
    """The tasktrail services must run without any profile; the demo only under ``demo``."""
    services = model["services"]
    for svc in SERVICES:
        dockerfile = comps[svc].dockerfile
        users = [
            n
            for n, s in services.items()
            if isinstance(s.get("build"), dict) and s["build"].get("dockerfile") == dockerfile
        ]
        if not users:
            report.problem(f"{COMPOSE}: no service is built from {dockerfile}")
        for name in users:
            if services[name].get("profiles"):
                report.problem(f"{COMPOSE}: service {name!r} runs only under a profile")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or (args and args[0] in ("-h", "--help")):
        print("usage: python -m deploy.check [ROOT]", file=sys.stderr)
        return 2
    root = Path(args[0]) if args else Path(__file__).resolve().parents[1]
    report = run(root)
    for warning in report.warnings:
        print(f"warning: {warning}")
    for problem in report.problems:
        print(problem)
    if report.ok:
        print(f"deploy check: ok ({root})")
        return 0
    print(f"deploy check: {len(report.problems)} problem(s)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
