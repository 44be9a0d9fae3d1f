"""Check a command's arguments before anything is sent to Celery (pure).

Errors are :class:`CommandError` whose message names the offending field, so the API can pass
it on to the operator as is.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from tasktrail_shared.commands import ARGUMENTS

NOT_IN_FULL = "arguments were not captured in full"


class CommandError(ValueError):
    """The command cannot be executed as given; the reply says why."""


def validate(command: str, raw: Mapping[str, Any]) -> BaseModel:
    """``args`` checked with the contract's model for ``command``."""
    try:
        return ARGUMENTS[command].model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"'{'.'.join(str(part) for part in error['loc']) or 'args'}': {error['msg']}"
            for error in exc.errors()
        )
        raise CommandError(f"invalid arguments for {command}: {problems}") from exc


def destination(names: list[str] | None) -> list[str] | None:
    """``None`` addresses every worker; an empty list would too in Celery, so it is refused."""
    if names is not None and not names:
        raise CommandError("'names': list at least one worker, or leave it out for all workers")
    return names


def original_arguments(
    args_repr: str | None, kwargs_repr: str | None
) -> tuple[list[Any], dict[str, Any]]:
    """Arguments back from Celery's ``argsrepr``/``kwargsrepr`` strings, if they are whole.

    Celery cuts long reprs with ``...`` (and an object's repr is not a literal), so a retry
    with such arguments would run the task with different ones: that is refused.
    """
    if args_repr is None:
        raise CommandError(f"'args': {NOT_IN_FULL} (none were recorded)")
    kwargs_repr = kwargs_repr or "{}"
    for field, text in (("args", args_repr), ("kwargs", kwargs_repr)):
        if "..." in text:
            raise CommandError(f"'{field}': {NOT_IN_FULL} (Celery truncated them)")
    try:
        args, kwargs = ast.literal_eval(args_repr), ast.literal_eval(kwargs_repr)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as exc:
        raise CommandError(f"{NOT_IN_FULL}: they are not Python literals ({exc})") from exc
    if not isinstance(args, list | tuple):
        raise CommandError(f"'args': {NOT_IN_FULL}: not a tuple or list")
    if not isinstance(kwargs, dict) or not all(isinstance(key, str) for key in kwargs):
        raise CommandError(f"'kwargs': {NOT_IN_FULL}: not a mapping of names")
    return list(args), kwargs


def parse_eta(eta: str | None, countdown: float | None) -> datetime | None:
    """ISO 8601 ``eta`` as an aware datetime (UTC when no offset is given)."""
    if eta is None:
        return None
    if countdown is not None:
        raise CommandError("'eta': give either 'eta' or 'countdown', not both")
    try:
        when = datetime.fromisoformat(eta)
    except ValueError as exc:
        raise CommandError(f"'eta': {eta!r} is not an ISO 8601 datetime") from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
