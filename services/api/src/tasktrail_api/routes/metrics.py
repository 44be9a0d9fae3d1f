"""``GET /metrics``: Prometheus text exposition (not the envelope: Prometheus reads it).
Whether it needs a token is ``TASKTRAIL_API_METRICS_TOKEN``; with one, a viewer's token sees
its organisation's clusters."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from tasktrail_shared.exposition import CONTENT_TYPE

from tasktrail_api.auth import OfferedToken
from tasktrail_api.deps import UseCasesDep
from tasktrail_api.domain.errors import Forbidden, Unauthorized
from tasktrail_api.domain.principals import Role
from tasktrail_api.domain.scope import EVERYTHING

router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(use_cases: UseCasesDep, token: OfferedToken) -> Response:
    """celery-exporter's and Flower's metrics, and tasktrail's own (see docs/api.md)."""
    scope = EVERYTHING
    if use_cases.metrics.needs_token:
        if token is None:
            raise Unauthorized("authentication required")
        principal = await use_cases.tokens.identify(token)
        if principal.role < Role.viewer:
            raise Forbidden("this needs the viewer role")
        scope = await use_cases.orgs.scope(principal)
    body = await use_cases.metrics.exposition(scope)
    return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})
