"""Sending a command to the control service of a cluster: the one way every entrypoint does
it.

Arguments are checked against the shared contract before anything is sent. An
``Idempotency-Key`` becomes the command id, scoped by the caller, so control's ledger
executes a repeated request once and answers it with the first reply.

Every command goes to the control of the cluster it concerns, inside the caller's scope:
``revoke`` to the clusters of the tasks it names, a worker command to the clusters of the
workers it names (or, naming none, to every cluster of the scope), ``run`` and ``purge`` to
one cluster (``app``). A name outside the scope answers 404, as if it did not exist.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass
from typing import Any

from pydantic import ValidationError
from tasktrail_shared.commands import ARGUMENTS, CommandName, CommandReply, CommandRequest

from tasktrail_api.domain.errors import BadRequest, CommandFailed
from tasktrail_api.domain.orgs import route
from tasktrail_api.domain.principals import Principal
from tasktrail_api.domain.scope import Scope
from tasktrail_api.usecases.orgs import Orgs
from tasktrail_api.usecases.ports import CommandSender, ReadModels

MAX_COMMAND_ID = 255
"""The longest command id the contract carries (``CommandRequest.id``)."""


def command_id(caller: Principal, key: str | None) -> str:
    """The caller's ``Idempotency-Key`` under their name (two callers choosing the same key
    do not share a reply), its digest when the two are too long together; a fresh id
    without a key."""
    if key is None:
        return uuid.uuid4().hex
    scoped = f"{caller.name}/{key}"
    if len(scoped) <= MAX_COMMAND_ID:
        return scoped
    return f"{caller.name}/sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def sub_key(key: str | None, part: int | str) -> str | None:
    """The key of one of several commands one request sends (``sync`` in chunks, a command
    to several clusters)."""
    return None if key is None else f"{key}#{part}"


def checked_arguments(command: CommandName, args: Mapping[str, Any]) -> dict[str, Any]:
    """``args`` as the contract reads them; BadRequest naming the field otherwise."""
    try:
        return ARGUMENTS[command].model_validate(args).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequest.field(where, first["msg"]) from exc


BY_CLUSTER = frozenset({"run", "purge"})
"""Commands about a cluster's broker rather than named tasks or workers: they go to one
cluster, the ``app`` asked for or the caller's (``Orgs.cluster_for``)."""
TASK_ARGS = {"revoke": "ids"}
"""Commands naming tasks: they go to the clusters of those tasks."""
ONLY_IDS = {"_id": 1, "app": 1}


def merge_replies(command: CommandName, replies: Sequence[CommandReply]) -> CommandReply:
    """The replies of the clusters one request went to, as one: every worker's outcome;
    ``result`` per cluster when there are several."""
    if len(replies) == 1:
        return replies[0]
    workers = {host: outcome for reply in replies for host, outcome in reply.workers.items()}
    results = [reply.result for reply in replies if reply.result is not None]
    ident = replies[0].id if replies else uuid.uuid4().hex
    return CommandReply(id=ident, command=command, ok=True, workers=workers, result=results or None)


@dataclass(eq=False)
class Commands:
    sender: CommandSender
    read_models: ReadModels
    orgs: Orgs
    _: KW_ONLY
    worker_timeout: float

    @property
    def connected(self) -> bool:
        return self.sender.connected

    @property
    def default_app(self) -> str:
        """The API's own cluster (``TASKTRAIL_APP``)."""
        return self.orgs.default_app

    async def send_to(
        self,
        app: str,
        command: CommandName,
        args: Mapping[str, Any],
        caller: Principal,
        key: str | None = None,
    ) -> CommandReply:
        """Check ``args`` against the contract, send to the control of cluster ``app``, and
        return the successful reply. The caller has chosen the cluster; :meth:`send_in`
        chooses it from what the command names."""
        checked = checked_arguments(command, args)
        request = CommandRequest(
            id=command_id(caller, key),
            command=command,
            args=checked,
            actor=caller.name,
            timeout=self.worker_timeout,
        )
        reply = await self.sender.send(request, app)
        if reply.command != command:
            raise CommandFailed("the control service answered another command")
        if not reply.ok:  # control refuses a key used before for another command, too
            raise CommandFailed(reply.error or f"the {command} command failed")
        return reply

    async def send_in(
        self,
        scope: Scope,
        command: CommandName,
        args: Mapping[str, Any],
        caller: Principal,
        key: str | None = None,
        app: str | None = None,
    ) -> CommandReply:
        """Send to the clusters ``args`` concern, within ``scope`` (see the module's
        docstring); ``app`` is the cluster asked for, for ``run`` and ``purge``."""
        if command in BY_CLUSTER:
            target = await self.orgs.cluster_for(scope, app)
            return await self.send_to(target, command, args, caller, key)
        routes = await self._routes(scope, command, checked_arguments(command, args))
        return await self.fan_out(command, routes, caller, key)

    async def _routes(
        self, scope: Scope, command: CommandName, args: Mapping[str, Any]
    ) -> dict[str, dict[str, Any]]:
        """The arguments to send to each cluster."""
        if command in TASK_ARGS:
            field, documents, noun = TASK_ARGS[command], self.read_models.tasks, "task"
        elif args.get("names"):
            field, documents, noun = "names", self.read_models.workers, "worker"
        else:
            return {app: dict(args) for app in await self.orgs.clusters(scope)}
        wanted: list[str] = list(args[field])
        rows = await documents.rows({"_id": {"$in": wanted}}, ONLY_IDS, len(wanted))
        found = {str(row["_id"]): row.get("app") for row in rows}
        routes = route(found, wanted, scope, self.orgs.default_app, noun)
        return {app: {**args, field: part} for app, part in routes.items()}

    async def fan_out(
        self,
        command: CommandName,
        routes: Mapping[str, Mapping[str, Any]],
        caller: Principal,
        key: str | None,
    ) -> CommandReply:
        """``command`` to each cluster of ``routes`` with its arguments, one reply for all.
        With several clusters each gets the key under its name, so that each control's
        ledger sees a command of its own."""
        replies = []
        for app in sorted(routes):
            part = key if len(routes) == 1 else sub_key(key, app)
            replies.append(await self.send_to(app, command, routes[app], caller, part))
        if not replies:  # a scope with no cluster: no worker to command
            return CommandReply(id=command_id(caller, key), command=command, ok=True)
        return merge_replies(command, replies)
