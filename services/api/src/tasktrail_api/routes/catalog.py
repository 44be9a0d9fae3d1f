"""Seed 001 (TheEye's tasks API): ``/<customer>/task...``, ``/<customer>/job/<id>`` and the
anonymous secret-key runs ``/job/secret/<key>``. Plain JSON answers, TheEye's error body
(``routes.plain``, ``envelope.SEED001_PATHS``); ``customer`` is the organisation's slug, in
the path or the body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, Response
from tasktrail_shared.catalog import ENTRY_ID_PATTERN, Definition

from tasktrail_api.auth import Authenticated, Operator, require
from tasktrail_api.bootstrap import UseCases
from tasktrail_api.deps import UseCasesDep
from tasktrail_api.domain.catalog import JobRequest, RecipeImport, one_of
from tasktrail_api.domain.principals import Principal, Role
from tasktrail_api.domain.scope import Scope
from tasktrail_api.routes.common import add_route
from tasktrail_api.routes.plain import (
    ACCEPTED,
    JOB_BODY,
    PLAIN_ERRORS,
    accepted,
    answer,
    job_request,
)
from tasktrail_api.schemas import CatalogEntry, Credentials, DeletedCount, Job, Recipe
from tasktrail_api.usecases.catalog import Catalog, Defined

router = APIRouter(tags=["catalog (seed 001)"], responses=PLAIN_ERRORS)
SLUG = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Customer = Annotated[str, Path(pattern=SLUG, description="The organisation's slug")]
EntryId = Annotated[str, Path(pattern=ENTRY_ID_PATTERN, description="The task's id")]
JobId = Annotated[str, Path(min_length=1, max_length=255, description="The Celery task id")]
Key = Annotated[str, Path(min_length=1, max_length=255, description="The task's secret key")]
Body = Annotated[JobRequest, Depends(job_request)]


@dataclass(frozen=True)
class Member:
    """The caller inside the organisation the path names: what they may reach there, and who
    they are (the catalog use cases check both)."""

    scope: Scope
    caller: Principal


@dataclass(frozen=True)
class _MemberAtLeast:
    """The dependency that admits callers of at least ``role`` who belong to ``customer``
    (NotFound otherwise, as for any object of another organisation)."""

    role: Role

    async def __call__(
        self, customer: Customer, use_cases: UseCasesDep, principal: Authenticated
    ) -> Member:
        caller = await require(self.role)(principal)
        return Member(await use_cases.catalog.scope(customer, caller), caller)


ViewerIn = Annotated[Member, Depends(_MemberAtLeast(Role.viewer))]
AdminIn = Annotated[Member, Depends(_MemberAtLeast(Role.admin))]


def _defined(outcome: Defined, status_code: int) -> JSONResponse:
    if outcome.accepted is not None:
        return accepted(outcome.entry_id, outcome.accepted.id, outcome.accepted.seq)
    return answer(outcome.shown, status_code)


@router.get("/{customer}/task", response_model=list[CatalogEntry])
async def list_catalog(use_cases: UseCasesDep, member: ViewerIn) -> JSONResponse:
    """The organisation's tasks the caller may see (admins: all), by name."""
    return answer(await use_cases.catalog.entries(member.scope, member.caller))


@router.post(
    "/{customer}/task/import",
    status_code=201,
    response_model=CatalogEntry,
    responses=ACCEPTED,
)
async def import_task(body: RecipeImport, use_cases: UseCasesDep, member: AdminIn) -> JSONResponse:
    """Define a task from a recipe (``GET .../recipe``): created, or restored if deleted."""
    return _defined(await use_cases.catalog.import_recipe(member.scope, member.caller, body), 201)


@dataclass(frozen=True)
class EntryRead:
    """``method`` on ``/{customer}/task/{entry_id}<suffix>``: answers what ``read`` gives for
    the entry, to a caller ``member`` admits (``ViewerIn`` or ``AdminIn``)."""

    method: str
    suffix: str
    name: str
    read: Callable[[Catalog, Scope, Principal, str], Awaitable[Any]]
    member: Any
    response_model: Any
    doc: str


async def _read_entry(
    spec: EntryRead, entry_id: str, use_cases: UseCases, member: Member
) -> Response:
    return answer(await spec.read(use_cases.catalog, member.scope, member.caller, entry_id))


def _add_entry_reads(*specs: EntryRead) -> None:
    for spec in specs:
        params = {"entry_id": EntryId, "use_cases": UseCasesDep, "member": spec.member}
        add_route(
            router, spec.method, f"/{{customer}}/task/{{entry_id}}{spec.suffix}", spec.name,
            partial(_read_entry, spec), params, response_model=spec.response_model,
            description=spec.doc,
        )  # fmt: skip


_add_entry_reads(
    EntryRead("GET", "", "get_catalog_task", Catalog.get, ViewerIn, CatalogEntry,
              "One task of the catalog, if the caller may use it (NotFound otherwise)."),
)  # fmt: skip


@router.patch("/{customer}/task/{entry_id}", response_model=CatalogEntry, responses=ACCEPTED)
async def define_task(
    entry_id: EntryId, body: Definition, use_cases: UseCasesDep, member: AdminIn
) -> JSONResponse:
    """Define what discovery cannot know (``tasktrail.catalog.amended``); null: the default."""
    fields = body.model_dump(mode="json", include=body.model_fields_set)
    return _defined(
        await use_cases.catalog.amend(member.scope, member.caller, entry_id, fields), 200
    )


@router.delete(
    "/{customer}/task/{entry_id}", status_code=204, response_class=Response, responses=ACCEPTED
)
async def delete_catalog_task(
    entry_id: EntryId, use_cases: UseCasesDep, member: AdminIn
) -> Response:
    """Remove the task from the catalog (its key stops working); its runs stay."""
    pending = await use_cases.catalog.delete(member.scope, member.caller, entry_id)
    if pending is not None:
        return accepted(entry_id, pending.id, pending.seq)
    return Response(status_code=204)


_add_entry_reads(
    EntryRead("GET", "/recipe", "task_recipe", Catalog.recipe, AdminIn, Recipe,
              "The task's definition as a recipe, for ``POST .../task/import`` elsewhere."),
    EntryRead("GET", "/credentials", "task_credentials", Catalog.credentials, AdminIn,
              Credentials, "The task's secret key (issued on the first request)."),
    EntryRead("POST", "/credentials", "rotate_task_key", Catalog.rotate_key, AdminIn,
              Credentials, "A new secret key: the old one stops working at once."),
)  # fmt: skip


@router.post("/{customer}/task/{entry_id}/job", response_model=Job, openapi_extra=JOB_BODY)
async def run_task(
    customer: Customer, entry_id: EntryId, body: Body, use_cases: UseCasesDep, caller: Operator
) -> JSONResponse:
    """Run the task with ``task_arguments``; answers the job."""
    scope = await use_cases.catalog.scope(one_of("customer", customer, body.customer), caller)
    task = one_of("task", entry_id, body.task)
    return answer(await use_cases.catalog.run(scope, caller, task, body.task_arguments, "token"))


@router.delete("/{customer}/task/{entry_id}/job", response_model=DeletedCount)
async def clear_jobs(entry_id: EntryId, use_cases: UseCasesDep, member: AdminIn) -> JSONResponse:
    """Remove the task's finished runs from every query (their history stays)."""
    return answer(
        {"deletedCount": await use_cases.catalog.clear_jobs(member.scope, member.caller, entry_id)}
    )


@router.post(
    "/{customer}/task/{entry_id}/secret/{key}/job", response_model=Job, openapi_extra=JOB_BODY
)
async def run_task_with_key(
    customer: Customer, entry_id: EntryId, key: Key, body: Body, use_cases: UseCasesDep
) -> JSONResponse:
    """Run the task anonymously with its secret key; a wrong key is a 403, and recorded."""
    customer = one_of("customer", customer, body.customer)
    task = one_of("task", entry_id, body.task)
    return answer(await use_cases.catalog.run_with_key(customer, task, key, body.task_arguments))


@router.get("/{customer}/job/{job_id}", response_model=Job)
async def get_job(job_id: JobId, use_cases: UseCasesDep, member: ViewerIn) -> JSONResponse:
    """A run's lifecycle, as its task's events tell it."""
    return answer(await use_cases.catalog.job(member.scope, member.caller, job_id))


@router.post("/job/secret/{key}", response_model=Job, openapi_extra=JOB_BODY)
async def run_with_key(key: Key, body: Body, use_cases: UseCasesDep) -> JSONResponse:
    """Run ``task`` of ``customer`` (both in the body) anonymously with its secret key."""
    customer = one_of("customer", None, body.customer)
    task = one_of("task", None, body.task)
    return answer(await use_cases.catalog.run_with_key(customer, task, key, body.task_arguments))


Named = Annotated[str | None, Query(max_length=255)]


@router.post("/job", response_model=Job, openapi_extra=JOB_BODY)
async def run_job(
    body: Body, use_cases: UseCasesDep, caller: Operator, customer: Named = None, task: Named = None
) -> JSONResponse:
    """Run ``task`` of ``customer`` (in the query or the body) with a token."""
    scope = await use_cases.catalog.scope(one_of("customer", customer, body.customer), caller)
    ident = one_of("task", task, body.task)
    return answer(await use_cases.catalog.run(scope, caller, ident, body.task_arguments, "token"))
