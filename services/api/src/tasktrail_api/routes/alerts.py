"""``/monitor/alerts/...``: channels, rules, silences (admins manage, viewers read), incidents
(viewers read) and "send test". See docs/alerts.md."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import Field, StringConstraints
from tasktrail_shared.alerts import ChannelType, RuleSpec
from tasktrail_shared.models import ClosedModel
from tasktrail_shared.times import Time, ZonedTime

from tasktrail_api.auth import Admin, Viewer
from tasktrail_api.bootstrap import UseCases
from tasktrail_api.deps import UseCasesDep
from tasktrail_api.domain.principals import Principal, Slug
from tasktrail_api.envelope import ok
from tasktrail_api.routes.common import add_route
from tasktrail_api.usecases.alerts import CHANNEL, RULE, SILENCE, AlertKind

router = APIRouter(prefix="/monitor/alerts", tags=["alerts"])
Ident = Annotated[str, Path(min_length=1, max_length=64)]
Org = Annotated[Slug | None, Query(description="Root tokens: the organisation (default one)")]


class ChannelBody(ClosedModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    type: ChannelType
    config: dict[str, Any]


class SilenceBody(ClosedModel):
    rule: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    key: Annotated[str, StringConstraints(min_length=1, max_length=500)] | None = None
    until: ZonedTime = Field(description="Muted until then (ISO 8601 with an offset)")
    comment: Annotated[str, StringConstraints(max_length=500)] | None = None


# --- list, show and delete: one handler each for every kind that has them -------------------------


async def _listed(kind: AlertKind, use_cases: UseCases, caller: Principal) -> Response:
    return ok({f"{kind.noun}s": await use_cases.alerts.listed(kind, caller)})


async def _shown(kind: AlertKind, use_cases: UseCases, caller: Principal, **path: str) -> Response:
    return ok({kind.noun: await use_cases.alerts.get(kind, path[f"{kind.noun}_id"], caller)})


async def _deleted(
    kind: AlertKind, use_cases: UseCases, caller: Principal, **path: str
) -> Response:
    await use_cases.alerts.delete(kind, path[f"{kind.noun}_id"], caller)
    return Response(status_code=204)


def _add_reads(kind: AlertKind) -> None:
    """``GET /<noun>s`` (every one the caller may see) and ``GET /<noun>s/{<noun>_id}``."""
    plural, ident = f"{kind.noun}s", {f"{kind.noun}_id": Ident}
    viewer = {"use_cases": UseCasesDep, "caller": Viewer}
    add_route(router, "GET", f"/{plural}", f"list_{plural}", partial(_listed, kind), viewer)
    path = f"/{plural}/{{{kind.noun}_id}}"
    add_route(router, "GET", path, f"get_{kind.noun}", partial(_shown, kind), {**ident, **viewer})


def _add_delete(kind: AlertKind) -> None:
    """``DELETE /<noun>s/{<noun>_id}``, for admins."""
    params = {f"{kind.noun}_id": Ident, "use_cases": UseCasesDep, "caller": Admin}
    add_route(
        router, "DELETE", f"/{kind.noun}s/{{{kind.noun}_id}}", f"delete_{kind.noun}",
        partial(_deleted, kind), params, status_code=204, response_class=Response,
    )  # fmt: skip


# --- channels -------------------------------------------------------------------------------------


@router.post("/channels", status_code=201)
async def create_channel(
    body: ChannelBody, use_cases: UseCasesDep, caller: Admin, org: Org = None
) -> JSONResponse:
    """A channel (``type``: webhook, email, slack, telegram, pagerduty, teams); its secrets are
    stored, never shown again nor logged. Audited as ``tasktrail.alert.channel.created``."""
    channel = await use_cases.alerts.create_channel(body.name, body.type, body.config, caller, org)
    return ok({"channel": channel}, status_code=201)


_add_reads(CHANNEL)
_add_delete(CHANNEL)


@router.post("/channels/{channel_id}/enable")
async def enable_channel(channel_id: Ident, use_cases: UseCasesDep, caller: Admin) -> JSONResponse:
    """Enable again a channel the notifier disabled after a permanent error."""
    return ok({"channel": await use_cases.alerts.enable_channel(channel_id, caller)})


@router.post("/channels/{channel_id}/test")
async def test_channel(channel_id: Ident, use_cases: UseCasesDep, caller: Admin) -> JSONResponse:
    """Send a synthetic incident through the channel's real transport; ``outcome`` says
    whether the channel accepted it (``ok``, ``code``, ``error``, ``attempts``)."""
    outcome = await use_cases.alerts.test_channel(channel_id, caller)
    return ok({"outcome": outcome.model_dump(mode="json")})


@router.post("/rules", status_code=201)
async def create_rule(
    body: RuleSpec, use_cases: UseCasesDep, caller: Admin, org: Org = None
) -> JSONResponse:
    """A rule (see docs/alerts.md for each ``kind``'s ``params``); audited as
    ``tasktrail.alert.rule.created``."""
    return ok({"rule": await use_cases.alerts.create_rule(body, caller, org)}, status_code=201)


_add_reads(RULE)
_add_delete(RULE)


@router.post("/silences", status_code=201)
async def create_silence(
    body: SilenceBody, use_cases: UseCasesDep, caller: Admin, org: Org = None
) -> JSONResponse:
    """Mute a rule, a group key (a task name, a worker, a cluster), or both, until ``until``."""
    silence = await use_cases.alerts.create_silence(
        body.rule, body.key, body.until, body.comment, caller, org
    )
    return ok({"silence": silence}, status_code=201)


@router.get("/silences")
async def list_silences(use_cases: UseCasesDep, caller: Viewer) -> JSONResponse:
    """Silences in force, and those that ended within the last day."""
    return ok({"silences": await use_cases.alerts.silences(caller)})


_add_delete(SILENCE)


@router.get("/incidents")
async def list_incidents(
    use_cases: UseCasesDep,
    caller: Viewer,
    state: Literal["firing", "resolved"] | None = None,
    rule: Annotated[str | None, Query(max_length=64)] = None,
    started_after: Time | None = None,
    started_before: Time | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> JSONResponse:
    """Newest first."""
    found = await use_cases.alerts.incidents(
        caller, state=state, rule=rule, after=started_after, before=started_before, limit=limit
    )
    return ok({"incidents": found})


@router.get("/incidents/{incident_id}")
async def get_incident(incident_id: Ident, use_cases: UseCasesDep, caller: Viewer) -> JSONResponse:
    """The incident and each of its deliveries (channel, state, attempts, last code)."""
    return ok({"incident": await use_cases.alerts.incident(incident_id, caller)})
