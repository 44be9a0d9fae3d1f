"""Seed 003's batch control API: several methods in one request, each answered on its own.

Every method is served by the use cases the REST routes use (tasks, workers, the audit
history, commands) within the caller's scope narrowed to the call's project (a cluster);
this module only picks them and formats their answers in the seed's shape
(``domain.task_info``). A method that fails is answered with its failure and the next one
runs: the batch never fails as a whole. ``TaskStart`` runs a catalog entry (``Catalog.run``,
origin ``batch``), so the run's command is recorded with the caller as actor and its labels
say it came from the batch API.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from tasktrail_shared.catalog import Origin

from tasktrail_api.domain import serializers, task_info
from tasktrail_api.domain.batch import (
    METHODS,
    AppTasksParams,
    BatchRequest,
    MethodCall,
    TaskEventsParams,
    TaskInfoParams,
    TaskStartParams,
    TaskStopParams,
    parse_params,
    project_scope,
)
from tasktrail_api.domain.errors import BadRequest, DomainError, Forbidden
from tasktrail_api.domain.history import LogPosition
from tasktrail_api.domain.principals import Principal, Role
from tasktrail_api.domain.scope import Scope
from tasktrail_api.usecases.audit import Audit
from tasktrail_api.usecases.catalog import Catalog
from tasktrail_api.usecases.commands import Commands, sub_key
from tasktrail_api.usecases.tasks import Tasks
from tasktrail_api.usecases.workers import Workers

log = logging.getLogger(__name__)

ORIGIN: Origin = "batch"
"""How the catalog labels the runs a batch starts."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who runs a batch, what they may see, and the batch's ``Idempotency-Key``, if any."""

    principal: Principal
    scope: Scope
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to one call: its ``result``, or the ``error`` it failed with."""

    call: MethodCall
    result: Any = None
    error: DomainError | None = None


class Internal(DomainError):
    """A method failed in a way no rule foresaw (logged); the batch goes on."""


Method = Callable[[dict[str, Any], Caller], Awaitable[Any]]
Items = list[dict[str, Any]]
"""Tasks or workers as shown, or in the seed's shape."""


@dataclass(eq=False)
class Batch:
    tasks: Tasks
    workers: Workers
    audit: Audit
    commands: Commands
    catalog: Catalog

    def __post_init__(self) -> None:
        self._methods: dict[str, Method] = {
            "TaskInfo": self.task_info,
            "AppTasks": self.app_tasks,
            "TaskEvents": self.task_events,
            "TaskStart": self.task_start,
            "TaskStop": self.task_stop,
        }
        assert tuple(self._methods) == METHODS

    async def run(self, request: BatchRequest, caller: Caller) -> list[Reply]:
        """Every call in order; with an ``Idempotency-Key``, call ``i`` uses ``key#i``."""
        replies = []
        for index, call in enumerate(request.methods):
            one = Caller(caller.principal, caller.scope, sub_key(caller.key, index))
            replies.append(await self._one(call, one))
        return replies

    async def _one(self, call: MethodCall, caller: Caller) -> Reply:
        method = self._methods.get(call.method)
        try:
            if method is None:
                known = ", ".join(METHODS)
                raise BadRequest.field("method", f"unknown method {call.method!r}; one of {known}")
            return Reply(call, result=await method(call.params, caller))
        except DomainError as exc:
            return Reply(call, error=exc)
        except Exception:
            log.exception("batch method %s failed", call.method)
            return Reply(call, error=Internal(f"{call.method} failed; the error is logged"))

    # --- methods ------------------------------------------------------------------------------

    async def task_info(self, raw: dict[str, Any], caller: Caller) -> Items:
        """The tasks named, or with ``"*"`` every active task: on a live worker, not lost."""
        params = parse_params(TaskInfoParams, raw)
        scope = project_scope(caller.scope, params.project_id)
        ids = params.ids()
        if ids is not None:
            return await self._items(await self.tasks.selected(ids, scope), scope)
        live = [worker["name"] for worker in await self.workers.online(scope)]
        tasks = await self.tasks.on_workers(live, scope, active_only=True)
        profiles = await self.catalog.profiles(tasks)
        return [task_info.item(task, True, profiles) for task in tasks]

    async def app_tasks(self, raw: dict[str, Any], caller: Caller) -> Items:
        """Per worker named (``"*"``: every live one), the tasks on it, children grouped
        under their parent."""
        params = parse_params(AppTasksParams, raw)
        scope = project_scope(caller.scope, params.project_id)
        ids = params.ids()
        workers = (
            await self.workers.online(scope)
            if ids is None
            else await self.workers.selected(ids, scope)
        )
        names = [worker["name"] for worker in workers]
        tasks = await self.tasks.on_workers(names, scope, active_only=False)
        profiles = await self.catalog.profiles(tasks)
        answer = []
        for worker in workers:
            name, online = worker["name"], worker["status"]
            on_it = [
                task_info.item(task, online, profiles) for task in tasks if task["worker"] == name
            ]
            answer.append(task_info.worker_tasks(name, online, on_it))
        return answer

    async def task_events(self, raw: dict[str, Any], caller: Caller) -> dict[str, Any]:
        """A task's history in log order; with ``update_token``, only what was recorded since
        the call that gave it."""
        params = parse_params(TaskEventsParams, raw)
        scope = project_scope(caller.scope, params.project_id)
        after = None
        if params.update_token is not None:
            try:
                after = LogPosition.parse(params.update_token)
            except ValueError as exc:
                raise BadRequest.field("params.update_token", str(exc)) from exc
        entries, last = await self.audit.task_log(params.task_id, scope, after, params.limit_value)
        return {"events": entries, "update_token": last.token}

    async def task_start(self, raw: dict[str, Any], caller: Caller) -> dict[str, Any]:
        """Run a task of the project's catalog (as seed 001's routes do): the new task's id
        and its job."""
        self._may_command(caller, "TaskStart")
        params = parse_params(TaskStartParams, raw)
        scope = project_scope(caller.scope, params.project_id)
        job = await self.catalog.run(scope, caller.principal, params.entry(), params.args, ORIGIN)
        return {"task_id": job["id"], "job": job}

    async def task_stop(self, raw: dict[str, Any], caller: Caller) -> dict[str, Any]:
        """Revoke the tasks (``terminate``: also kill them where they run), each of which
        must be a task of the project."""
        self._may_command(caller, "TaskStop")
        params = parse_params(TaskStopParams, raw)
        scope = project_scope(caller.scope, params.project_id)
        args = params.revoke_arguments()
        reply = await self.commands.send_in(scope, "revoke", args, caller.principal, caller.key)
        return {"task_ids": args["ids"], **serializers.command_result(reply)}

    # --- helpers ------------------------------------------------------------------------------

    async def _items(self, tasks: Items, scope: Scope) -> Items:
        """``tasks`` in the seed's shape, each judged by its worker's liveness read now."""
        workers = await self.workers.many(sorted(_workers_of(tasks)), scope)
        alive = {worker["name"]: worker["status"] for worker in workers}
        profiles = await self.catalog.profiles(tasks)
        return [task_info.item(task, alive.get(task["worker"]), profiles) for task in tasks]

    @staticmethod
    def _may_command(caller: Caller, method: str) -> None:
        if caller.principal.role < Role.operator:
            raise Forbidden(f"{method} needs the operator role")


def _workers_of(tasks: Iterable[dict[str, Any]]) -> set[str]:
    return {task["worker"] for task in tasks if task.get("worker")}
