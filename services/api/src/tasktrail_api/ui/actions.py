"""The web UI's state-changing requests: log in and out, and the action buttons.

Every action runs the use case its REST route runs (``commands.send_in``, ``tasks.retry``,
``tokens.create``...), after the Origin and CSRF checks (``security.Acting``) and the role
check the REST route makes. Destructive ones (shutdown, purge, revoking several tasks) first
answer with a page naming what they will touch, and run only once its name is typed.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from tasktrail_api.deps import UseCasesDep
from tasktrail_api.domain.commands import MAX_REVOKED
from tasktrail_api.domain.errors import BadRequest, Forbidden, Unauthorized
from tasktrail_api.domain.principals import Role, TokenRequest, token_digest
from tasktrail_api.ui.commands import ACTIONS, PURGE, Action, form_arguments
from tasktrail_api.ui.pages import base, parsed
from tasktrail_api.ui.render import failed_page, page
from tasktrail_api.ui.security import Acting, Caller, allowed, codec, same_origin
from tasktrail_api.ui.session import COOKIE

router = APIRouter(include_in_schema=False)


def _set_cookie(request: Request, response: Response, value: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )


@router.get("/ui/login")
async def login_form(request: Request) -> HTMLResponse:
    return page("login.html", error=None, next=_next(request.query_params.get("next")))


def _next(target: str | None) -> str:
    """Only a path of this UI: never an open redirect."""
    if target and target.startswith("/ui") and not target.startswith("//"):
        return target
    return "/ui/"


@router.post("/ui/login")
async def login(
    request: Request,
    use_cases: UseCasesDep,
    token: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/ui/",
) -> Response:
    if not same_origin(request):
        raise Forbidden("cross-origin request refused")
    digest = token_digest(token.strip())
    try:
        await use_cases.tokens.identify_digest(digest)
    except Unauthorized:
        return failed_page("login.html", 401, error="That token is not valid.", next=next)
    sessions = codec(request)
    response = RedirectResponse(_next(next), status_code=303)
    _set_cookie(request, response, sessions.seal(sessions.new(digest)), int(sessions.max_age))
    return response


@router.post("/ui/logout")
async def logout(request: Request, who: Acting) -> Response:
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _done(request: Request, who: Caller, action: Action, outcome: Any, back: str) -> HTMLResponse:
    context = {"action": action, "outcome": outcome, "back": back}
    return page("done.html", **base(request, who, "tasks"), **context)


async def form_fields(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def _permitted(who: Caller, name: str, target: str) -> Action:
    """The action ``name`` on a ``target`` (BadRequest if there is none), if the caller's role
    allows it (Forbidden otherwise)."""
    action = ACTIONS.get(name)
    if action is None or action.target != target:
        raise BadRequest.field("action", f"unknown {target} action")
    allowed(who, action.role)
    return action


@router.post("/ui/tasks/{task_id}/{name}")
async def task_action(
    request: Request, task_id: str, name: str, who: Acting, use_cases: UseCasesDep
) -> HTMLResponse:
    action = _permitted(who, name, "task")
    back = f"/ui/tasks/{task_id}"
    if action.command == "retry":
        new_id = await use_cases.tasks.retry(task_id, who.principal, None, who.scope)
        return _done(request, who, action, {"new task": new_id}, f"/ui/tasks/{new_id}")
    args = {"ids": [task_id], "terminate": name == "terminate"}
    reply = await use_cases.commands.send_in(who.scope, "revoke", args, who.principal)
    return _done(request, who, action, _outcome(reply.workers), back)


def _outcome(workers: dict[str, Any]) -> dict[str, str]:
    return {host: f"{o.status}: {o.detail}" for host, o in workers.items()}


@router.post("/ui/tasks")
async def bulk_action(request: Request, who: Acting, use_cases: UseCasesDep) -> HTMLResponse:
    """Revoke or retry the selected tasks; revoking more than one asks for their number."""
    form = await request.form()
    ids = [i for i in form.getlist("ids") if isinstance(i, str) and i][:MAX_REVOKED]
    fields = await form_fields(request)
    action = ACTIONS.get(fields.get("action", ""))
    if action is None or action.target != "task" or not ids:
        raise BadRequest.field("ids", "select tasks and an action")
    allowed(who, action.role)
    if action.command == "retry":
        outcome = {i: await use_cases.tasks.retry(i, who.principal, None, who.scope) for i in ids}
        return _done(request, who, action, outcome, "/ui/tasks")
    typed = fields.get("confirm", "").strip()
    if len(ids) > 1 and typed != str(len(ids)):
        confirm = {"what": f"{len(ids)} tasks", "word": str(len(ids)), "items": ids}
        context = {"action": action, "confirm": confirm, "fields": {"action": action.name}}
        return page("confirm.html", **base(request, who, "tasks"), **context, ids=ids)
    args = {"ids": ids, "terminate": action.name == "terminate"}
    reply = await use_cases.commands.send_in(who.scope, "revoke", args, who.principal)
    return _done(request, who, action, _outcome(reply.workers), "/ui/tasks")


@router.post("/ui/workers/{worker_id}/{name}")
async def worker_action(
    request: Request, worker_id: str, name: str, who: Acting, use_cases: UseCasesDep
) -> HTMLResponse:
    action = _permitted(who, name, "worker")
    worker = await use_cases.workers.get(worker_id, who.scope)
    fields = await form_fields(request)
    host = worker["name"]
    if action.destructive and fields.get("confirm", "").strip() != host:
        confirm = {"what": f"worker {host}", "word": host, "items": [host]}
        context = {"action": action, "confirm": confirm, "fields": fields}
        return page("confirm.html", **base(request, who, "workers"), **context, ids=[])
    args = {**form_arguments(action, fields), "names": [host]}
    assert action.command != "retry"
    reply = await use_cases.commands.send_in(who.scope, action.command, args, who.principal)
    return _done(request, who, action, _outcome(reply.workers), f"/ui/workers/{worker_id}")


@router.post("/ui/queues/purge")
async def purge(request: Request, who: Acting, use_cases: UseCasesDep) -> HTMLResponse:
    allowed(who, PURGE.role)
    fields = await form_fields(request)
    queue = fields.get("queue", "").strip()
    if not queue:
        raise BadRequest.field("queue", "required")
    if fields.get("confirm", "").strip() != queue:
        confirm = {"what": f"every message waiting in queue {queue}", "word": queue, "items": []}
        context = {"action": PURGE, "confirm": confirm, "fields": {"queue": queue}}
        return page("confirm.html", **base(request, who, "queues"), **context, ids=[])
    reply = await use_cases.commands.send_in(who.scope, "purge", {"queue": queue}, who.principal)
    return _done(request, who, PURGE, {"removed": reply.result}, "/ui/queues")


@router.post("/ui/tokens")
async def create_token(request: Request, who: Acting, use_cases: UseCasesDep) -> HTMLResponse:
    allowed(who, Role.admin)
    fields = await form_fields(request)
    body = parsed(TokenRequest, {"name": fields.get("name"), "role": fields.get("role")})
    org = body.target_org(who.principal)
    secret, _ = await use_cases.tokens.create(body.name, body.role, who.principal, org)
    listed = await use_cases.tokens.list(who.principal)
    context = {"tokens": listed, "secret": secret, "made": body.name}
    return page("tokens.html", **base(request, who, "tokens"), **context)


@router.post("/ui/tokens/{name}/revoke")
async def revoke_token(
    request: Request, name: str, who: Acting, use_cases: UseCasesDep
) -> Response:
    allowed(who, Role.admin)
    await use_cases.tokens.revoke(name, who.principal, who.principal.org)
    return RedirectResponse("/ui/tokens", status_code=303)
