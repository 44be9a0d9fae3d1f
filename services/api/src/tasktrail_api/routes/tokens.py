"""``/monitor/tokens``: API tokens for admins (the ``tasktrail-api tokens`` CLI does the same)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response

from tasktrail_api import serializers, token_admin
from tasktrail_api.auth import Admin
from tasktrail_api.deps import EventLogDep, ReadModelsDep
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
    body: TokenRequest, read_models: ReadModelsDep, event_log: EventLogDep, principal: Admin
) -> JSONResponse:
    """A new token; ``secret`` is shown this once (only its digest is stored). Audited as
    ``tasktrail.token.created``."""
    secret, doc = await token_admin.create_token(
        read_models, event_log, body.name, body.role, principal.name
    )
    response = ok({"token": serializers.token(doc), "secret": secret})
    response.status_code = 201
    return response


@router.get("", response_model=Envelope[TokenList])
async def list_tokens(read_models: ReadModelsDep, _: Admin) -> JSONResponse:
    return ok({"tokens": [serializers.token(d) for d in await read_models.list_tokens()]})


@router.delete("/{name}", status_code=204, response_class=Response)
async def revoke_token(
    name: Annotated[str, Path(min_length=1, max_length=64)],
    read_models: ReadModelsDep,
    event_log: EventLogDep,
    principal: Admin,
) -> Response:
    """Audited as ``tasktrail.token.revoked``."""
    if not await token_admin.revoke_token(read_models, event_log, name, principal.name):
        raise not_found("token")
    return Response(status_code=204)
