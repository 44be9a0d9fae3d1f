"""Labels: named values taken from a task's name, args and kwargs by configurable rules.

Celery ships arguments as repr strings (``"('c87d…', [{'packet': UUID('…')}], None)"``), so
they are parsed, never evaluated: the text is read with :func:`ast.parse` and only literal
nodes are turned into values, the way :func:`ast.literal_eval` does. Unlike it, ``UUID('…')``
and ``Decimal('1.5')`` yield their literal argument, and any other node (a call such as
``datetime.datetime(…)``, an operator) becomes an :class:`Opaque` stand-in that no label
takes, instead of failing the whole string: Celery's reprs are full of such calls.
Oversized or unreadable text gives no labels, never an error.
"""

from __future__ import annotations

import ast
import fnmatch
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard

from tasktrail_shared.fields import is_label_value

MAX_TEXT = 64 * 1024
"""Longer args/kwargs text is not parsed: labels must stay cheap."""
MAX_DEPTH = 64


CALLS = frozenset({"UUID", "uuid.UUID", "Decimal", "decimal.Decimal"})
"""Calls in a repr whose single literal argument is the value."""


class Unreadable(ValueError):
    """The text is not a literal we can read."""


@dataclass(frozen=True, slots=True)
class Opaque:
    """A part of a repr that is not a literal (kept as its source text, never a label)."""

    text: str


@dataclass(frozen=True, slots=True)
class Rule:
    """``label`` = args[path] or kwargs[path] of tasks whose name matches ``task``."""

    label: str
    task: str
    source: str
    """``args`` or ``kwargs``."""
    path: tuple[str | int, ...]

    @classmethod
    def parse(
        cls, label: str, task: str, arg: int | str | None = None, kwarg: str | None = None
    ) -> Rule:
        """``arg=1`` or ``arg="1.0.packet"`` (args[1][0]['packet']), or ``kwarg="asn.number"``."""
        if (arg is None) == (kwarg is None):
            raise ValueError(f"label {label!r}: give exactly one of 'arg' and 'kwarg'")
        if arg is not None:
            parts = str(arg).split(".")
            if not parts[0].isdigit():
                raise ValueError(f"label {label!r}: 'arg' must start with a position")
            return cls(label, task, "args", (int(parts[0]), *_steps(parts[1:])))
        assert kwarg is not None
        parts = kwarg.split(".")
        if not all(parts):
            raise ValueError(f"label {label!r}: empty step in kwarg path {kwarg!r}")
        return cls(label, task, "kwargs", (parts[0], *_steps(parts[1:])))


def _steps(parts: Sequence[str]) -> list[str | int]:
    if not all(parts):
        raise ValueError("empty step in label path")
    return [int(p) if p.isdigit() else p for p in parts]


def extract(rules: Sequence[Rule], name: Any, args: Any, kwargs: Any) -> dict[str, Any]:
    """The labels ``rules`` give this task; the first rule that yields a value wins."""
    if not rules or not isinstance(name, str):
        return {}
    parsed: dict[str, Any] = {}
    labels: dict[str, Any] = {}
    for rule in rules:
        if rule.label in labels or not fnmatch.fnmatchcase(name, rule.task):
            continue
        if rule.source not in parsed:
            parsed[rule.source] = _read(args if rule.source == "args" else kwargs)
        value = _follow(parsed[rule.source], rule.path)
        if is_label_value(value):
            labels[rule.label] = value
    return labels


_MISSING = object()


def _read(value: Any) -> Any:
    """Args/kwargs as data: repr strings parsed, JSON values (from records) as they are."""
    if not isinstance(value, str):
        return value
    try:
        return parse_literal(value)
    except Unreadable:
        return _MISSING


def _follow(value: Any, path: Sequence[str | int]) -> Any:
    for step in path:
        if isinstance(value, Mapping):
            if step in value:
                value = value[step]
            elif isinstance(step, int) and str(step) in value:
                value = value[str(step)]
            else:
                return _MISSING
        elif isinstance(value, list) and isinstance(step, int) and step < len(value):
            value = value[step]
        else:
            return _MISSING
    return value


def parse_literal(text: str) -> Any:
    """The value a Python literal repr denotes; tuples and sets become lists."""
    if len(text) > MAX_TEXT:
        raise Unreadable(f"{len(text)} characters is too long to parse")
    try:
        tree = ast.parse(text.strip(), mode="eval")
        return _value(tree.body, text, 0)
    except (SyntaxError, ValueError, RecursionError, MemoryError, TypeError) as exc:
        raise Unreadable(str(exc)) from exc


def _value(node: ast.AST, text: str, depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise Unreadable("nested too deeply")
    if isinstance(node, ast.Constant):
        value = node.value
        return None if isinstance(value, types.EllipsisType | bytes | complex) else value
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return [_value(item, text, depth + 1) for item in node.elts]
    if isinstance(node, ast.Dict):
        return _dict(node, text, depth)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        return _signed(node, text, depth)
    if _is_wrapped_literal(node):
        return _value(node.args[0], text, depth + 1)
    return Opaque(ast.get_source_segment(text.strip(), node) or "")


def _dict(node: ast.Dict, text: str, depth: int) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    for key, item in zip(node.keys, node.values, strict=True):
        if key is None:  # ``**spread``
            raise Unreadable("dict unpacking is not a literal")
        k = _value(key, text, depth + 1)
        if isinstance(k, list | dict | Opaque):
            raise Unreadable("unhashable dict key")
        out[k] = _value(item, text, depth + 1)
    return out


def _signed(node: ast.UnaryOp, text: str, depth: int) -> int | float:
    operand = _value(node.operand, text, depth + 1)
    if isinstance(operand, int | float) and not isinstance(operand, bool):
        return -operand if isinstance(node.op, ast.USub) else operand
    raise Unreadable("sign on a non-number")


def _is_wrapped_literal(node: ast.AST) -> TypeGuard[ast.Call]:
    """``UUID('…')`` or ``Decimal('1.5')``: a call in :data:`CALLS` of one literal argument."""
    return (
        isinstance(node, ast.Call)
        and ast.unparse(node.func) in CALLS
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Constant)
    )
