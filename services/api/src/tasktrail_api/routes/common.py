"""What several routes share: the filters of each list, the answer to a page and to a write,
and routes made from a table (the command endpoints, and the create/patch/delete of tasks and
workers), so that one handler serves each shape.

Parse, call the use case, wrap in the envelope: nothing else happens in a route.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from tasktrail_shared.commands import CommandName, CommandReply

from tasktrail_api.auth import CALLERS, CallerScope
from tasktrail_api.bootstrap import UseCases
from tasktrail_api.deps import IdempotencyKey, UseCasesDep
from tasktrail_api.domain import serializers
from tasktrail_api.domain.filters import EventFilters, TaskFilters, WorkerFilters
from tasktrail_api.domain.principals import Principal, Role
from tasktrail_api.domain.scope import Scope
from tasktrail_api.domain.stats import StatsFilters
from tasktrail_api.domain.writes import Change
from tasktrail_api.envelope import Envelope, ok
from tasktrail_api.schemas import Accepted, CommandResult
from tasktrail_api.usecases.tasks import Page
from tasktrail_api.usecases.writes import Kind, Written

Id = Annotated[str, Path(min_length=1, max_length=255)]
TaskQuery = Annotated[TaskFilters, Query()]
WorkerQuery = Annotated[WorkerFilters, Query()]
EventQuery = Annotated[EventFilters, Query()]
StatsQuery = Annotated[StatsFilters, Query()]
"""Each list's filters, read from the query string as one model (FastAPI's query models)."""
KEYWORD, EMPTY = inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.empty
Handler = Callable[..., Awaitable[Response]]

ACCEPTED_RESPONSE: dict[int | str, dict[str, Any]] = {
    202: {
        "model": Envelope[Accepted],
        "description": "Recorded in the log, not yet projected (see event_id)",
    }
}


def written(outcome: Written, data_key: str, status_code: int) -> Response:
    """The projected document under ``data_key``; 204 after a delete; 202 with the event
    while the projector has not applied it."""
    if outcome.accepted is not None:
        published = outcome.accepted
        data = {"event_id": published.id, "seq": published.seq, "status": "accepted"}
        return ok(data, status_code=202)
    if outcome.shown is None:
        return Response(status_code=204)
    return ok({data_key: outcome.shown}, status_code=status_code)


def page_answer(key: str, page: Page) -> JSONResponse:
    """One page of a list under ``key``, with the list's total."""
    return ok({key: page.items, "count": page.count})


def _parameter(name: str, declared: Any) -> inspect.Parameter:
    """``declared`` is an annotation, or ``(annotation, default)`` for an optional one."""
    annotation, default = declared if isinstance(declared, tuple) else (declared, EMPTY)
    return inspect.Parameter(name, KEYWORD, annotation=annotation, default=default)


def add_route(
    router: APIRouter,
    method: str,
    path: str,
    name: str,
    handler: Handler,
    params: dict[str, Any],
    **options: Any,
) -> None:
    """``handler`` at ``method path``, taking ``params`` as FastAPI reads a route function's
    parameters (see :func:`_parameter`); ``options`` as for ``APIRouter.add_api_route``."""

    async def endpoint(**values: Any) -> Response:
        return await handler(**values)

    endpoint.__name__ = name
    endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [_parameter(n, declared) for n, declared in params.items()]
    )
    router.add_api_route(path, endpoint, methods=[method], name=name, **options)


# --- commands ---------------------------------------------------------------------------------


def _command_result(body: Any, reply: CommandReply) -> Any:
    return serializers.command_result(reply)


@dataclass(frozen=True, slots=True)
class Command:
    """``POST <path>`` with ``body`` sends ``command``; ``show`` makes the answer's data."""

    path: str
    command: CommandName
    body: type[BaseModel]
    role: Role = Role.operator
    doc: str = ""
    name: str | None = None
    """The operation's name, when it is not the command's."""
    response_model: Any = Envelope[CommandResult]
    show: Callable[[Any, CommandReply], Any] = field(default=_command_result)


async def _send(
    spec: Command,
    body: BaseModel,
    use_cases: UseCases,
    caller: Principal,
    scope: Scope,
    key: str | None,
) -> Response:
    """A body's ``app`` (``run``, ``purge``) names the cluster; it is no argument."""
    args, app = body.model_dump(mode="json", exclude={"app"}), getattr(body, "app", None)
    reply = await use_cases.commands.send_in(scope, spec.command, args, caller, key, app)
    return ok(spec.show(body, reply))


def add_commands(router: APIRouter, specs: list[Command]) -> None:
    for spec in specs:
        add_route(
            router, "POST", spec.path, spec.name or spec.command, partial(_send, spec),
            {"body": spec.body, "use_cases": UseCasesDep, "caller": CALLERS[spec.role],
             "scope": CallerScope, "key": (IdempotencyKey, None)},
            response_model=spec.response_model,
            description=spec.doc,
        )  # fmt: skip


# --- hand-made writes -------------------------------------------------------------------------


class WriteBody(Protocol):
    def payload_fields(self, *, keep_nulls: bool) -> dict[str, Any]: ...


class CreateBody(WriteBody, Protocol):
    def identity(self) -> str | None: ...

    def cluster(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class Writes:
    """``POST``, ``PATCH /{id}`` and ``DELETE /{id}`` of one kind, answered with ``data_key``."""

    kind: Kind
    id_param: str
    create: type[BaseModel]
    patch: type[BaseModel]
    data_key: str
    response_model: Any
    """The envelope of the answer to a create or patch."""


async def _record(
    spec: Writes, body: CreateBody, use_cases: UseCases, caller: Principal, scope: Scope
) -> Response:
    fields = body.payload_fields(keep_nulls=False)
    outcome = await use_cases.writes.record(
        spec.kind, body.identity(), fields, caller, scope, body.cluster()
    )
    return written(outcome, spec.data_key, 201)


async def _amend(
    spec: Writes,
    body: WriteBody,
    use_cases: UseCases,
    caller: Principal,
    scope: Scope,
    **path: str,
) -> Response:
    fields = body.payload_fields(keep_nulls=True)
    outcome = await use_cases.writes.amend(spec.kind, path[spec.id_param], fields, caller, scope)
    return written(outcome, spec.data_key, 200)


async def _delete(
    spec: Writes, use_cases: UseCases, caller: Principal, scope: Scope, **path: str
) -> Response:
    outcome = await use_cases.writes.delete(spec.kind, path[spec.id_param], caller, scope)
    return written(outcome, spec.data_key, 204)


def _write_docs(kind: Kind) -> dict[Change, str]:
    noun = kind.noun
    return {
        Change.RECORDED: f"Record a {noun} by hand (``{kind.event_type(Change.RECORDED)}``); "
        "answers it as projected, or 202 with the event while the projector has not applied it.",
        Change.AMENDED: f"Amend fields (``{kind.event_type(Change.AMENDED)}``): they override "
        f"what the {noun}'s own events said (see docs/api.md).",
        Change.DELETED: f"Hide the {noun} from every query (``{kind.event_type(Change.DELETED)}``)"
        " until it is recorded again; its history stays.",
    }


def add_writes(router: APIRouter, spec: Writes) -> None:
    noun, path, docs = spec.kind.noun, f"/{{{spec.id_param}}}", _write_docs(spec.kind)
    caller = {"use_cases": UseCasesDep, "caller": CALLERS[Role.admin], "scope": CallerScope}
    ident = {spec.id_param: Id}
    exists = {409: {"description": f"The {noun} exists"}}
    add_route(
        router, "POST", "", f"create_{noun}", partial(_record, spec),
        {"body": spec.create, **caller}, status_code=201, response_model=spec.response_model,
        responses={**ACCEPTED_RESPONSE, **exists}, description=docs[Change.RECORDED],
    )  # fmt: skip
    add_route(
        router, "PATCH", path, f"patch_{noun}", partial(_amend, spec),
        {"body": spec.patch, **caller, **ident}, response_model=spec.response_model,
        responses=ACCEPTED_RESPONSE, description=docs[Change.AMENDED],
    )  # fmt: skip
    add_route(
        router, "DELETE", path, f"delete_{noun}", partial(_delete, spec), {**caller, **ident},
        status_code=204, response_class=Response, responses=ACCEPTED_RESPONSE,
        description=docs[Change.DELETED],
    )  # fmt: skip
