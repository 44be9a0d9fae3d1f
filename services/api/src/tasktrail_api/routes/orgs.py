"""``/monitor/orgs``: organisations and the clusters they own (the ``tasktrail-api orgs`` CLI
does the same). Root tokens create organisations and give them clusters; every caller sees
its own organisation (root: all of them).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse, Response
from tasktrail_shared.own_events import ORG_SLUG

from tasktrail_api.auth import Admin, Viewer
from tasktrail_api.deps import UseCasesDep
from tasktrail_api.domain.orgs import ClusterRequest, OrgRequest
from tasktrail_api.envelope import Envelope, ok
from tasktrail_api.routes.common import ACCEPTED_RESPONSE, written
from tasktrail_api.schemas import OrgDetail, OrgList

router = APIRouter(prefix="/monitor/orgs", tags=["organisations"])
SlugPath = Annotated[str, Path(pattern=ORG_SLUG, description="The organisation's slug")]
ROOT_ONLY: dict[int | str, dict[str, Any]] = {403: {"description": "Only a root token may do this"}}


@router.post(
    "",
    status_code=201,
    response_model=Envelope[OrgDetail],
    responses={**ACCEPTED_RESPONSE, **ROOT_ONLY, 409: {"description": "The slug is taken"}},
)
async def create_org(body: OrgRequest, use_cases: UseCasesDep, caller: Admin) -> Response:
    """A new organisation, owning no cluster yet (``tasktrail.org.created``; root only)."""
    outcome = await use_cases.orgs.create(body.slug, body.name, caller)
    return written(outcome, "org", 201)


@router.get("", response_model=Envelope[OrgList])
async def list_orgs(use_cases: UseCasesDep, caller: Viewer) -> JSONResponse:
    """Every organisation for a root token; the caller's own otherwise."""
    return ok({"orgs": await use_cases.orgs.list(caller)})


@router.get("/{slug}", response_model=Envelope[OrgDetail])
async def get_org(slug: SlugPath, use_cases: UseCasesDep, caller: Viewer) -> JSONResponse:
    """One organisation: a root token sees any, others only their own (404 otherwise)."""
    return ok({"org": await use_cases.orgs.get(slug, caller)})


@router.post(
    "/{slug}/clusters",
    response_model=Envelope[OrgDetail],
    responses={**ACCEPTED_RESPONSE, **ROOT_ONLY},
)
async def assign_cluster(
    slug: SlugPath, body: ClusterRequest, use_cases: UseCasesDep, caller: Admin
) -> Response:
    """Give the cluster ``app`` to the organisation, taking it from any other
    (``tasktrail.org.cluster_assigned``; root only)."""
    outcome = await use_cases.orgs.assign(slug, body.app, caller)
    return written(outcome, "org", 200)
