"""Seed 003's batch control API as requests: the body, each method's parameters, and which
cluster a call is about. Pure.

A body names several methods; each is answered on its own, so the body is checked here only
as far as every call has a method name, and each call's ``params`` are checked by its
method (a bad one fails that call alone). The seed's ids are integers where tasktrail's are
strings (Celery task ids are uuids, worker ids hostnames or uuids, clusters names): an
integer is taken as the id it spells (``238733`` is ``"238733"``).
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    ValidationError,
)
from tasktrail_shared.catalog import entry_id
from tasktrail_shared.commands import Signal
from tasktrail_shared.models import ClosedModel

from tasktrail_api.domain.errors import BadRequest, NotFound
from tasktrail_api.domain.scope import Scope

MAX_METHODS = 100
"""Methods one batch may hold."""
MAX_SELECTED = 1000
"""Ids one method may name."""
ALL = "*"
"""``task_ids`` / ``app_ids``: every active task, every live worker."""
METHODS = ("TaskInfo", "AppTasks", "TaskEvents", "TaskStart", "TaskStop")
INT64 = 2**63

P = TypeVar("P", bound=BaseModel)


def _spelled(value: Any) -> Any:
    """An integer id as the text it spells; anything else as given (then checked as text)."""
    if isinstance(value, int) and not isinstance(value, bool) and -INT64 <= value < INT64:
        return str(value)
    return value


Ident = Annotated[
    str,
    BeforeValidator(_spelled),
    StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    Field(description="An id: text, or an integer (taken as the text it spells)"),
]
Selection = Annotated[
    Ident | list[Ident],
    Field(description='One id, a list of ids, or "*" for all'),
]


class MethodCall(ClosedModel):
    """One call of a batch; ``id`` (any the caller likes) is echoed in its reply entry."""

    method: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description=f"One of {', '.join(METHODS)}"
    )
    id: Annotated[str, StringConstraints(max_length=255)] | StrictInt | None = Field(
        default=None, description="Echoed in this call's reply entry"
    )
    params: dict[str, Any] = Field(
        default_factory=dict, description="The method's parameters (see docs/api.md)"
    )


def _call(method: str, ident: int, **params: Any) -> dict[str, Any]:
    return {"method": method, "id": ident, "params": {"project_id": "default", **params}}


EXAMPLE: dict[str, Any] = {
    "user_id": 4,
    "methods": [{"method": "TaskInfo", "params": {"project_id": "default", "task_ids": "*"}}],
}
EVERY_METHOD: dict[str, Any] = {
    "methods": [
        _call("TaskInfo", 1, task_ids=[238733, "2acef619-cb56-4f7b-9777-936dc5cb371b"]),
        _call("AppTasks", 2, app_ids="*"),
        _call("TaskEvents", 3, task_id="2acef619-cb56-4f7b-9777-936dc5cb371b", limit_value=10),
        _call("TaskStart", 4, name="demo.add", args=[2, 3]),
        _call("TaskStop", 5, task_ids=["2acef619-cb56-4f7b-9777-936dc5cb371b"], terminate=True),
    ]
}


class BatchRequest(ClosedModel):
    """``POST /ctrl_api/v1/json``: the methods, answered in order."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [EXAMPLE, EVERY_METHOD]},
    )
    user_id: Annotated[str, StringConstraints(max_length=255)] | StrictInt | None = Field(
        default=None, description="Accepted for the seed's clients; the token names the caller"
    )
    methods: list[MethodCall] = Field(min_length=1, max_length=MAX_METHODS)


class _Params(ClosedModel):
    project_id: Ident = Field(description="The cluster (``app``)")


def _selected(value: str | list[str], *, all_allowed: bool) -> list[str] | None:
    """The ids a selection names, in order, each once; ``None`` for ``"*"``."""
    if value == ALL and all_allowed:
        return None
    ids = [value] if isinstance(value, str) else value
    if not ids:
        raise BadRequest.field("params", "name at least one id")
    if len(ids) > MAX_SELECTED:
        raise BadRequest.field("params", f"at most {MAX_SELECTED} ids per method")
    return list(dict.fromkeys(ids))


class TaskInfoParams(_Params):
    task_ids: Selection

    def ids(self) -> list[str] | None:
        return _selected(self.task_ids, all_allowed=True)


class AppTasksParams(_Params):
    app_ids: Selection = Field(description="Workers by hostname or uuid, or all live ones")

    def ids(self) -> list[str] | None:
        return _selected(self.app_ids, all_allowed=True)


class TaskEventsParams(_Params):
    task_id: Ident
    limit_value: Annotated[StrictInt, Field(ge=1, le=100)] = 25
    update_token: Annotated[str, StringConstraints(max_length=64)] | None = None


class TaskStartParams(_Params):
    """A task of the project's catalog, by name, and the values of its arguments."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    args: list[Any] = Field(
        default_factory=list, max_length=1000, description="The entry's task_arguments values"
    )

    def entry(self) -> str:
        """The catalog entry of this task in the project."""
        return entry_id(self.project_id, self.name)


class TaskStopParams(_Params):
    task_ids: Ident | list[Ident]
    terminate: StrictBool = False
    signal: Signal = "SIGTERM"

    def revoke_arguments(self) -> dict[str, Any]:
        ids = _selected(self.task_ids, all_allowed=False)
        return {"ids": ids, "terminate": self.terminate, "signal": self.signal}


def parse_params(model: type[P], raw: dict[str, Any]) -> P:
    """A call's ``params`` as ``model``; BadRequest naming the first field at fault."""
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(["params", *(str(p) for p in first["loc"])])
        raise BadRequest.field(where, first["msg"].removeprefix("Value error, ")) from exc


def project_scope(scope: Scope, project: str) -> Scope:
    """The caller's scope narrowed to one cluster; a cluster outside it is "not found",
    whether or not it exists, so a call never tells another organisation's clusters apart
    from clusters nobody has."""
    if not scope.allows(project):
        raise NotFound.named("project")
    return Scope(scope.org, frozenset({project}))
