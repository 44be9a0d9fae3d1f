"""``/monitor/tokens``: API tokens for admins (the ``tasktrail-api tokens`` CLI does the same)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response

from tasktrail_api import serializers
from tasktrail_api.auth import Admin, new_token, token_digest
from tasktrail_api.deps import ReadModelsDep
from tasktrail_api.envelope import Envelope, ok
from tasktrail_api.errors import not_found
from tasktrail_api.schemas import NewToken, TokenList, TokenRequest

router = APIRouter(prefix="/monitor/tokens", tags=["tokens"])


@router.post(
    "",
    status_code=201,
    response_model=Envelope[NewToken],
    responses={409: {"description": "Name taken"}},
)
async def create_token(
    body: TokenRequest, read_models: ReadModelsDep, principal: Admin
) -> JSONResponse:
    """A new token; ``secret`` is shown this once (only its digest is stored)."""
    secret = new_token()
    at = datetime.now(UTC)
    await read_models.add_token(token_digest(secret), body.name, body.role, principal.name, at)
    doc = {"name": body.name, "role": body.role, "created": at, "created_by": principal.name}
    response = ok({"token": serializers.token(doc), "secret": secret})
    response.status_code = 201
    return response


@router.get("", response_model=Envelope[TokenList])
async def list_tokens(read_models: ReadModelsDep, _: Admin) -> JSONResponse:
    return ok({"tokens": [serializers.token(d) for d in await read_models.list_tokens()]})


@router.delete("/{name}", status_code=204, response_class=Response)
async def revoke_token(
    name: Annotated[str, Path(min_length=1, max_length=64)], read_models: ReadModelsDep, _: Admin
) -> Response:
    if not await read_models.remove_token(name):
        raise not_found("token")
    return Response(status_code=204)
