"""Check a command's arguments with the contract's model, and nothing else (pure).

Every rule about arguments lives in ``tasktrail_shared.commands`` (the API validates request
bodies with the same models). Errors are :class:`CommandError` whose message names the
offending field, so the API can pass it on to the operator as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel
from tasktrail_shared.commands import check_arguments


class CommandError(ValueError):
    """The command cannot be executed as given; the reply says why."""


def validate(command: str, raw: Mapping[str, Any]) -> BaseModel:
    """``args`` checked with the contract's model for ``command``."""
    try:
        return check_arguments(command, raw)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
