"""The Alerts page (``/ui/alerts``): incidents with their deliveries, rules, silences and
channels, read and changed through the alerts use cases the REST routes call, scoped the same
way (the caller's organisation). Admins manage; other roles read, and the server refuses
them (403) whatever a page showed. Every POST passes the Origin and CSRF checks
(``security.Acting``); deleting a rule or a channel asks for its name to be typed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, StringConstraints
from tasktrail_shared.alerts import CHANNEL_TYPES, EVALUATED_KINDS, RuleSpec

from tasktrail_api import envelope
from tasktrail_api.deps import UseCasesDep
from tasktrail_api.domain.errors import BadRequest, DomainError, NotFound, Unavailable
from tasktrail_api.domain.principals import Role
from tasktrail_api.ui.actions import form_fields
from tasktrail_api.ui.alert_forms import (
    DELETE_CHANNEL,
    DELETE_RULE,
    SILENCE_SPANS,
    Button,
    channel_input,
    compact,
    in_force,
    muted_until,
    optional,
    rule_body,
    silence_until,
)
from tasktrail_api.ui.pages import base, list_params, parsed
from tasktrail_api.ui.render import page
from tasktrail_api.ui.security import Acting, Caller, Looking, allowed
from tasktrail_api.usecases.alerts import CHANNEL, RULE, SILENCE, AlertKind

router = APIRouter(include_in_schema=False)
PAGE = "/ui/alerts"
FIRING_SHOWN = 100
"""Incidents of one state the page lists (newest first)."""
RESOLVED_SHOWN = 50
"""Resolved incidents listed under the firing ones when no state is chosen."""
Doc = dict[str, Any]


class IncidentFilters(BaseModel):
    state: Literal["firing", "resolved"] | None = None
    rule: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


async def _incidents(use_cases: UseCasesDep, who: Caller, filters: IncidentFilters) -> list[Doc]:
    """Firing first, then the latest resolved (or only the state asked for), each with its
    deliveries."""
    alerts = use_cases.alerts
    found: list[Doc] = []
    for state in [filters.state] if filters.state else ["firing", "resolved"]:
        limit = RESOLVED_SHOWN if state == "resolved" and not filters.state else FIRING_SHOWN
        found += await alerts.incidents(
            who.principal, state=state, rule=filters.rule, after=None, before=None, limit=limit
        )
    return await alerts.with_deliveries(found)


async def _render(
    request: Request,
    who: Caller,
    use_cases: UseCasesDep,
    filters: IncidentFilters | None = None,
    status: int = 200,
    **shown: Any,
) -> HTMLResponse:
    alerts, caller, now = use_cases.alerts, who.principal, datetime.now(UTC)
    channels = await alerts.listed(CHANNEL, caller)
    rules = await alerts.listed(RULE, caller)
    silences = await alerts.silences(caller)
    filters = filters or IncidentFilters()
    context = {
        "incidents": await _incidents(use_cases, who, filters),
        "filters": filters,
        "rules": rules,
        "channels": channels,
        "silences": silences,
        "channel_names": {c["id"]: c["name"] for c in channels},
        "rule_names": {r["id"]: r["name"] for r in rules},
        "muted": muted_until(silences, now),
        "in_force": {s["id"] for s in silences if in_force(s, now)},
        "kinds": EVALUATED_KINDS,
        "types": CHANNEL_TYPES,
        "spans": SILENCE_SPANS,
        "compact": compact,
        "problem": None,
        "form": {},
        "outcome": None,
        **shown,
    }
    response = page("alerts.html", **base(request, who, "alerts"), **context)
    response.status_code = status
    return response


@router.get(PAGE)
async def alerts_page(request: Request, who: Looking, use_cases: UseCasesDep) -> HTMLResponse:
    filters = parsed(IncidentFilters, list_params(request))
    return await _render(request, who, use_cases, filters)


async def _admin_form(request: Request, who: Caller) -> dict[str, str]:
    allowed(who, Role.admin)
    return await form_fields(request)


async def _refused(
    request: Request,
    who: Caller,
    use_cases: UseCasesDep,
    where: str,
    form: dict[str, str],
    exc: DomainError,
) -> HTMLResponse:
    """The page again, the form that failed refilled and saying what was wrong."""
    problem = {"where": where, "message": exc.message}
    status = envelope.status_of(exc)
    return await _render(request, who, use_cases, status=status, problem=problem, form=form)


def _back() -> RedirectResponse:
    return RedirectResponse(PAGE, status_code=303)


@router.post(f"{PAGE}/channels")
async def create_channel(request: Request, who: Acting, use_cases: UseCasesDep) -> Response:
    fields = await _admin_form(request, who)
    try:
        name, channel_type, config = channel_input(fields)
        await use_cases.alerts.create_channel(name, channel_type, config, who.principal, None)
    except (BadRequest, NotFound) as exc:
        kept = {k: v for k, v in fields.items() if k != "config"}  # it may hold a secret
        return await _refused(request, who, use_cases, "channel", kept, exc)
    return _back()


@router.post(f"{PAGE}/rules")
async def create_rule(request: Request, who: Acting, use_cases: UseCasesDep) -> Response:
    fields = await _admin_form(request, who)
    ticked = [c for c in (await request.form()).getlist("channels") if isinstance(c, str)]
    try:
        spec = parsed(RuleSpec, rule_body(fields, ticked))
        await use_cases.alerts.create_rule(spec, who.principal, None)
    except (BadRequest, NotFound) as exc:
        return await _refused(request, who, use_cases, "rule", fields, exc)
    return _back()


@router.post(f"{PAGE}/silences")
async def create_silence(request: Request, who: Acting, use_cases: UseCasesDep) -> Response:
    fields = await _admin_form(request, who)
    try:
        until = silence_until(fields, datetime.now(UTC))
        rule, key = optional(fields, "rule", 64), optional(fields, "key")
        comment = optional(fields, "comment")
        await use_cases.alerts.create_silence(rule, key, until, comment, who.principal, None)
    except (BadRequest, NotFound) as exc:
        return await _refused(request, who, use_cases, "silence", fields, exc)
    return _back()


@router.post(PAGE + "/silences/{silence_id}/delete")
async def end_silence(
    request: Request, silence_id: str, who: Acting, use_cases: UseCasesDep
) -> Response:
    await _admin_form(request, who)
    await use_cases.alerts.delete(SILENCE, silence_id, who.principal)
    return _back()


async def _delete(
    request: Request,
    who: Caller,
    use_cases: UseCasesDep,
    kind: AlertKind,
    button: Button,
    object_id: str,
) -> Response:
    """Delete once the object's name is typed; until then, a page asking for it."""
    fields = await _admin_form(request, who)
    name = (await use_cases.alerts.get(kind, object_id, who.principal))["name"]
    if fields.get("confirm", "").strip() != name:
        confirm = {"what": f"{kind.noun} {name}", "word": name, "items": []}
        context = {"action": button, "confirm": confirm, "fields": {}, "ids": [], "back": PAGE}
        return page("confirm.html", **base(request, who, "alerts"), **context)
    await use_cases.alerts.delete(kind, object_id, who.principal)
    return _back()


@router.post(PAGE + "/rules/{rule_id}/delete")
async def delete_rule(
    request: Request, rule_id: str, who: Acting, use_cases: UseCasesDep
) -> Response:
    return await _delete(request, who, use_cases, RULE, DELETE_RULE, rule_id)


@router.post(PAGE + "/channels/{channel_id}/delete")
async def delete_channel(
    request: Request, channel_id: str, who: Acting, use_cases: UseCasesDep
) -> Response:
    return await _delete(request, who, use_cases, CHANNEL, DELETE_CHANNEL, channel_id)


@router.post(PAGE + "/channels/{channel_id}/enable")
async def enable_channel(
    request: Request, channel_id: str, who: Acting, use_cases: UseCasesDep
) -> Response:
    await _admin_form(request, who)
    await use_cases.alerts.enable_channel(channel_id, who.principal)
    return _back()


@router.post(PAGE + "/channels/{channel_id}/test")
async def test_channel(
    request: Request, channel_id: str, who: Acting, use_cases: UseCasesDep
) -> HTMLResponse:
    """A synthetic incident through the channel's real transport (a notifier sends it); the
    page comes back saying what the channel answered."""
    await _admin_form(request, who)
    outcome: Doc = {"channel": channel_id}
    try:
        sent = await use_cases.alerts.test_channel(channel_id, who.principal)
    except Unavailable as exc:
        outcome |= {"ok": False, "code": None, "error": exc.message, "attempts": 0}
    else:
        outcome |= sent.model_dump(mode="json")
    return await _render(request, who, use_cases, outcome=outcome)
