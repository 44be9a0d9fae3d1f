"""Compose files as ``docker compose`` reads them: YAML with compose's ``!reset`` and
``!override`` tags, ``${VAR:-default}`` interpolation, validation against the Compose
Specification's JSON schema, and the merge of an override file given with a second ``-f``.

The schema is vendored (``schema/``) so that the check needs no network. Interpolation takes
every variable as unset, so the result does not depend on the caller's environment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

SCHEMA = Path(__file__).with_name("schema") / "compose-spec.json"


class Reset:
    """``!reset``: drops the value the files before gave."""


@dataclass(frozen=True)
class Override:
    """``!override``: replaces the value the files before gave instead of merging with it."""

    value: Any


class _Loader(yaml.SafeLoader):  # type: ignore[misc]  # PyYAML ships no types
    pass


def _override(loader: yaml.SafeLoader, node: yaml.Node) -> Override:
    if isinstance(node, yaml.MappingNode):
        return Override(loader.construct_mapping(node, deep=True))
    if isinstance(node, yaml.SequenceNode):
        return Override(loader.construct_sequence(node, deep=True))
    return Override(loader.construct_scalar(node))


_Loader.add_constructor("!reset", lambda loader, node: Reset())
_Loader.add_constructor("!override", _override)

# $$, ${NAME}, ${NAME:-default}, ${NAME-default}, $NAME: with nothing set, the default or "".
_VARIABLE = re.compile(r"\$(?:\$|\{\w+(?::?-(?P<default>[^}]*))?\}|\w+)")


def _defaults(text: str) -> str:
    return _VARIABLE.sub(lambda m: "$" if m[0] == "$$" else m["default"] or "", text)


def interpolate(value: Any) -> Any:
    """``value`` with every variable reference replaced as if no variable were set."""
    if isinstance(value, str):
        return _defaults(value)
    if isinstance(value, Override):
        return Override(interpolate(value.value))
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    return value


def load(path: Path) -> Any:
    """The file's content, interpolated, tags kept (raises OSError or yaml.YAMLError)."""
    return interpolate(yaml.load(path.read_text(), Loader=_Loader))


def plain(value: Any) -> Any:
    """``value`` with the tags resolved as in a single file: overrides unwrapped, resets gone."""
    if isinstance(value, Override):
        return plain(value.value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if not isinstance(v, Reset)}
    if isinstance(value, list):
        return [plain(item) for item in value if not isinstance(item, Reset)]
    return value


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(json.loads(SCHEMA.read_text()))


def schema_problems(data: Any) -> list[str]:
    """Where ``data`` (a file's content, tags resolved) breaks the Compose Specification."""
    errors = sorted(_validator().iter_errors(data), key=lambda error: str(error.absolute_path))
    return [
        f"{'.'.join(map(str, error.absolute_path)) or 'top level'}: {error.message}"
        for error in errors
    ]


def image_name(image: str) -> str:
    """``registry/path/name:tag`` -> ``name``."""
    return image.rsplit("/", 1)[-1].split(":")[0]


def as_mapping(value: Any) -> dict[str, Any]:
    """``environment``, ``labels`` or build ``args``, from either of their two forms; a listed
    name without ``=`` (taken from the caller's environment) maps to None."""
    if isinstance(value, Mapping):
        return {str(key): item for key, item in value.items()}
    pairs = (str(item).partition("=") for item in value or [])
    return {key: (item if sep else None) for key, sep, item in pairs}


def _as_depends(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    return {str(name): {"condition": "service_started"} for name in value or []}


# Sequences an override file replaces rather than extends.
_REPLACED = frozenset({"command", "entrypoint", "test"})
# Keys written as a list or a mapping, merged as mappings.
_NORMALISE = {
    "environment": as_mapping,
    "labels": as_mapping,
    "args": as_mapping,
    "annotations": as_mapping,
    "depends_on": _as_depends,
}


def merge(base: Any, over: Any, key: str = "") -> Any:
    """``over`` (tags kept) merged into ``base`` (plain) the way compose merges ``-f`` files:
    mappings merge key by key, sequences are extended (``command``, ``entrypoint`` and
    ``test`` replaced), scalars replaced, ``!override`` replaces and ``!reset`` removes."""
    if isinstance(over, Override):
        return plain(over.value)
    if key in _NORMALISE and base is not None:
        base, over = _NORMALISE[key](base), _NORMALISE[key](over)
    if isinstance(base, dict) and isinstance(over, dict):
        return _merge_mappings(base, over)
    if isinstance(base, list) and isinstance(over, list) and key not in _REPLACED:
        return base + [item for item in plain(over) if item not in base]
    return plain(over)


def _merge_mappings(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Reset):
            merged.pop(key, None)
        elif key in merged:
            merged[key] = merge(merged[key], value, str(key))
        else:
            merged[key] = plain(value)
    return merged
