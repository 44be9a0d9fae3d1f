"""The use cases the lifespan wired, and request headers routes share, as ``Annotated``
dependencies."""

from __future__ import annotations

from typing import Annotated, cast

from fastapi import Depends, Header, Request

from tasktrail_api.bootstrap import UseCases
from tasktrail_api.domain.commands import IDEMPOTENCY_KEY


def get_use_cases(request: Request) -> UseCases:
    return cast(UseCases, request.app.state.use_cases)


UseCasesDep = Annotated[UseCases, Depends(get_use_cases)]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=IDEMPOTENCY_KEY,
        description="Repeat a request with the same key (1 to 255 printable characters) and "
        "the command runs once: the repeat gets the first answer (see docs/api.md)",
    ),
]
