"""The deployable components and what their code accepts: settings and console scripts.

The settings are read from the ``Settings`` classes themselves (pydantic-settings), so the
check follows the code: a variable that is no field there is ignored by the service, and a
value the class rejects stops the service at start-up.
"""

from __future__ import annotations

import importlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource

PREFIX = "TASKTRAIL_"


@dataclass(frozen=True)
class Component:
    """A deployable unit: one of the five services, or the development-only devstack."""

    name: str
    directory: str
    """Its workspace member, relative to the repository root."""
    settings: str
    """``module:Class`` of the settings it reads."""
    host_field: str | None = None
    port_field: str | None = None
    """The settings its HTTP endpoint (API routes, or the health endpoint) listens on."""
    writes_stream: bool = False
    """Creates or updates the JetStream stream on start, so must agree on its settings."""

    @property
    def distribution(self) -> str:
        return f"tasktrail-{self.name}"

    @property
    def package(self) -> str:
        return f"tasktrail_{self.name}"

    @property
    def listens(self) -> bool:
        return self.port_field is not None


def _service(name: str, listen: str = "", *, writes_stream: bool = True) -> Component:
    listen = listen or f"{name}_health"
    settings = f"tasktrail_{name}.settings:Settings"
    directory = f"services/{name}"
    return Component(name, directory, settings, f"{listen}_host", f"{listen}_port", writes_stream)


COMPONENTS: dict[str, Component] = {
    component.name: component
    for component in (
        _service("collector"),
        _service("projector"),
        _service("control"),
        _service("notifier"),
        _service("api", "api", writes_stream=False),
        Component("devstack", "devstack", "tasktrail_shared.settings:CommonSettings"),
    )
}


def variable(field: str) -> str:
    """The environment variable of a settings field (they all share one prefix)."""
    return f"{PREFIX}{field.upper()}"


LISTEN_VARIABLES = frozenset(
    variable(name)
    for component in COMPONENTS.values()
    for name in (component.host_field, component.port_field)
    if name
)
"""Where each service listens: the Dockerfile's service stage sets them for every service image,
each service reading only its own."""


class _GivenVariables(EnvSettingsSource):
    """pydantic-settings' own environment source, reading the given variables instead of the
    process's, so that values are decoded (JSON lists included) exactly as at start-up."""

    def __init__(self, settings_cls: type[BaseSettings], variables: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.env_vars = {key.lower(): value for key, value in variables.items()}


def _only_given(
    cls: type[BaseSettings],
    settings_cls: type[BaseSettings],
    init_settings: PydanticBaseSettingsSource,
    env_settings: PydanticBaseSettingsSource,
    dotenv_settings: PydanticBaseSettingsSource,
    file_secret_settings: PydanticBaseSettingsSource,
) -> tuple[PydanticBaseSettingsSource, ...]:
    """Settings sources that ignore the checker's own environment and ``.env`` files."""
    return (init_settings,)


@dataclass(frozen=True)
class SettingsClass:
    """One component's settings class, and the variables that set its fields."""

    cls: type[BaseSettings]
    fields: Mapping[str, str]
    """Variable name (upper case) -> field name."""
    isolated: type[BaseSettings]
    """``cls`` reading only what it is given (pydantic runs ``__init__``, and so reads the
    process's environment, even from ``model_validate``)."""

    def value(self, variables: Mapping[str, str], field: str) -> str:
        """The value ``field`` takes under ``variables``: the variable's, else the default."""
        for key, value in variables.items():
            if self.fields.get(key.upper()) == field:
                return value
        default = self.cls.model_fields[field].get_default(call_default_factory=True)
        return "" if default is None else str(default)

    def rejection(self, variables: Mapping[str, str]) -> str | None:
        """Why the class refuses to start with ``variables``, or None if it accepts them."""
        given = {key: value for key, value in variables.items() if key.upper() in self.fields}
        try:
            self.isolated(**_GivenVariables(self.cls, given)())
        except ValueError as exc:  # pydantic's ValidationError, or a JSON value that is no JSON
            lines = [line.strip() for line in str(exc).splitlines()]
            return " ".join(line for line in lines if line and "errors.pydantic.dev" not in line)
        return None


@cache
def settings_of(component: Component) -> SettingsClass:
    module, _, name = component.settings.partition(":")
    cls: type[BaseSettings] = getattr(importlib.import_module(module), name)
    prefix = str(cls.model_config.get("env_prefix", "")).upper()
    fields: dict[str, str] = {}
    for field, info in cls.model_fields.items():
        fields[f"{prefix}{field}".upper()] = field
        for alias in (info.alias, info.validation_alias):
            if isinstance(alias, str):
                fields[alias.upper()] = field
    isolated = type(cls.__name__, (cls,), {"settings_customise_sources": classmethod(_only_given)})
    return SettingsClass(cls, fields, isolated)


def console_scripts(root: Path, component: Component) -> dict[str, Any]:
    """``[project.scripts]`` of the component's distribution, as its image installs it."""
    data = tomllib.loads((root / component.directory / "pyproject.toml").read_text())
    scripts: dict[str, Any] = data.get("project", {}).get("scripts", {})
    return scripts
