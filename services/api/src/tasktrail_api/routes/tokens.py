"""``/monitor/tokens``: API tokens for admins (the ``tasktrail-api tokens`` CLI does the same).

An organisation's admins manage its own tokens; root admins every organisation's, and root
tokens.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response

from tasktrail_api.auth import Admin
from tasktrail_api.deps import UseCasesDep
from tasktrail_api.domain.principals import Slug, TokenRequest
from tasktrail_api.envelope import Envelope, ok
from tasktrail_api.schemas import NewToken, TokenList

router = APIRouter(prefix="/monitor/tokens", tags=["tokens"])
Org = Annotated[
    Slug | None,
    Query(description="The token's organisation; absent: the caller's (root: a root token, "
          "or the default organisation's)"),
]  # fmt: skip


@router.post(
    "",
    status_code=201,
    response_model=Envelope[NewToken],
    responses={409: {"description": "Name taken"}},
)
async def create_token(body: TokenRequest, use_cases: UseCasesDep, caller: Admin) -> JSONResponse:
    """A new token of an organisation (``org``: absent, the caller's; null, a root token);
    ``secret`` is shown this once (only its digest is stored). Audited as
    ``tasktrail.token.created``."""
    org = body.target_org(caller)
    secret, token = await use_cases.tokens.create(body.name, body.role, caller, org)
    return ok({"token": token, "secret": secret}, status_code=201)


@router.get("", response_model=Envelope[TokenList])
async def list_tokens(use_cases: UseCasesDep, caller: Admin) -> JSONResponse:
    """The tokens of the caller's organisation (a root token: every token)."""
    return ok({"tokens": await use_cases.tokens.list(caller)})


@router.delete("/{name}", status_code=204, response_class=Response)
async def revoke_token(
    name: Annotated[str, Path(min_length=1, max_length=64)],
    use_cases: UseCasesDep,
    caller: Admin,
    org: Org = None,
) -> Response:
    """Audited as ``tasktrail.token.revoked``."""
    await use_cases.tokens.revoke(name, caller, org if org is not None else caller.org)
    return Response(status_code=204)
