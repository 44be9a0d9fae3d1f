"""The buttons of the web UI: which command each sends, with which fields, for which role.

Pages show a button only to a role that may use it, and the action route refuses anyone
else (403), whatever the page showed. Roles are the REST routes' (shutdown and purge need
admin, every other command operator). Destructive actions name what they will touch and
ask for its name to be typed before they run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from tasktrail_shared.commands import CommandName

from tasktrail_api.domain.errors import BadRequest
from tasktrail_api.domain.principals import Role

Target = Literal["task", "worker", "queue"]


@dataclass(frozen=True, slots=True)
class FormField:
    name: str
    label: str
    kind: Literal["int", "text"] = "text"
    required: bool = False


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    """``data-action`` on its button; the command's name, or ``terminate``."""
    label: str
    command: CommandName | Literal["retry"]
    target: Target
    role: Role = Role.operator
    destructive: bool = False
    fields: tuple[FormField, ...] = ()


TASK_ACTIONS = (
    Action("revoke", "Revoke", "revoke", "task"),
    Action("terminate", "Terminate", "revoke", "task"),
    Action("retry", "Retry", "retry", "task"),
)
WORKER_ACTIONS = (
    Action("refresh", "Inspect", "refresh", "worker"),
    Action("shutdown", "Shut down", "shutdown", "worker", Role.admin, destructive=True),
    Action("pool_grow", "Grow pool", "pool_grow", "worker", fields=(FormField("n", "by", "int"),)),
    Action(
        "pool_shrink", "Shrink pool", "pool_shrink", "worker", fields=(FormField("n", "by", "int"),)
    ),
    Action(
        "autoscale",
        "Autoscale",
        "autoscale",
        "worker",
        fields=(FormField("max", "max", "int", True), FormField("min", "min", "int", True)),
    ),
    Action(
        "add_consumer",
        "Consume queue",
        "add_consumer",
        "worker",
        fields=(FormField("queue", "queue", required=True),),
    ),
    Action(
        "cancel_consumer",
        "Stop consuming",
        "cancel_consumer",
        "worker",
        fields=(FormField("queue", "queue", required=True),),
    ),
    Action(
        "rate_limit",
        "Rate limit",
        "rate_limit",
        "worker",
        fields=(FormField("task_name", "task", required=True), FormField("rate", "rate")),
    ),
    Action(
        "time_limit",
        "Time limits",
        "time_limit",
        "worker",
        fields=(
            FormField("task_name", "task", required=True),
            FormField("soft", "soft s", "int"),
            FormField("hard", "hard s", "int"),
        ),
    ),
)
PURGE = Action("purge", "Purge", "purge", "queue", Role.admin, destructive=True)
ACTIONS = {a.name: a for a in (*TASK_ACTIONS, *WORKER_ACTIONS, PURGE)}


def form_arguments(action: Action, form: Mapping[str, str]) -> dict[str, object]:
    """The command's arguments from a submitted form: numbers as numbers, empty as absent;
    the shared contract checks the rest when the command is sent."""
    args: dict[str, object] = {}
    for spec in action.fields:
        raw = (form.get(spec.name) or "").strip()
        if not raw:
            if spec.required:
                raise BadRequest.field(spec.name, "required")
            continue
        if spec.kind == "int":
            if not raw.lstrip("-").isdigit():
                raise BadRequest.field(spec.name, "a whole number")
            args[spec.name] = int(raw)
        else:
            args[spec.name] = raw
    return args
