"""The task catalog's contract: entry ids, what an admin defines about an entry, and the
labels a run started from the catalog carries.

A catalog entry is one task name of one cluster (``app``). Its id is derived from the two,
so every projector replica, and a rebuild, gives an entry the same id; it has TheEye's shape
(24 hexadecimal digits). Discovery (what workers report, names seen in events) makes an
entry exist; an admin adds what discovery cannot know (:class:`Definition`), one
``tasktrail.catalog.amended`` event at a time.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

from tasktrail_shared.fields import check_storable
from tasktrail_shared.models import ClosedModel

ENTRY_ID_PATTERN = r"^[0-9a-f]{24}$"
DEFAULT_TIMEOUT = 600
"""Seconds a run may take when the entry's ``timeout`` is null (TheEye's default)."""
MAX_TIMEOUT = 7 * 24 * 3600
BUILTIN_PREFIX = "celery."
"""Celery's own tasks (``celery.chord_unlock``, ``celery.backend_cleanup``...): not catalogued."""
MAX_NAME = 255

CATALOG_ID_LABEL = "catalog_id"
"""The label naming the catalog entry a run was started from."""
ORIGIN_LABEL = "origin"
"""How a run was started: one of :data:`ORIGINS`."""
STARTED_BY_LABEL = "started_by"
"""Who started a run: the token's name, or ``anonymous`` for a secret-key run."""
CATALOG_LABELS = frozenset({CATALOG_ID_LABEL, ORIGIN_LABEL, STARTED_BY_LABEL})
Origin = Literal["token", "secret", "batch"]
ORIGINS: tuple[Origin, ...] = ("token", "secret", "batch")
"""A run started with an API token, with the entry's secret key, or by the batch API."""


def entry_id(app: str, name: str) -> str:
    """The entry of task ``name`` in cluster ``app``: the same everywhere, every time."""
    return hashlib.sha256(f"{app}\x00{name}".encode()).hexdigest()[:24]


def is_catalogued(name: object) -> bool:
    """Whether discovery makes an entry for a task of this name (Celery's own tasks excluded)."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_NAME
        and name.strip() == name
        and not name.startswith(BUILTIN_PREFIX)
    )


def registered_name(item: object) -> str | None:
    """The task name in one item of a worker's ``inspect registered`` answer, which may follow
    it with attributes (``demo.add [rate_limit=10/m]``)."""
    if not isinstance(item, str):
        return None
    return item.split(" [", 1)[0].strip() or None


Text = Annotated[str, StringConstraints(max_length=128)]
ArgumentType = Literal["fixed", "input", "number", "json"]
"""``fixed``: the admin's ``value`` is always passed; the others take the caller's value:
``input`` as given, ``number`` as a number (a numeric text is converted), ``json`` parsed
from JSON text (or taken as given when it is not text)."""


class TaskArgument(ClosedModel):
    """One argument of a task, in the order the task takes them."""

    type: ArgumentType
    label: Text | None = Field(default=None, description="What the caller is asked for")
    value: Annotated[Any, AfterValidator(check_storable)] = Field(
        default=None, description="The value of a fixed argument"
    )
    help: Annotated[str, StringConstraints(max_length=1024)] | None = None

    @model_validator(mode="after")
    def _fixed_has_a_value(self) -> TaskArgument:
        if self.type == "fixed" and self.value is None:
            raise ValueError("a fixed argument needs a 'value'")
        if self.type != "fixed" and self.value is not None:
            raise ValueError("only a fixed argument has a 'value'; the caller gives the others")
        return self


Tag = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ProfileId = StrictInt | Annotated[str, StringConstraints(min_length=1, max_length=64)]
"""A profile's id: a number, as in seed 003, or a text id."""
One = Annotated[list[ProfileId], Field(max_length=1)]
Many = Annotated[list[ProfileId], Field(max_length=100)]
PROFILE_TYPES = ("alarm", "email", "threshold", "pagerduty", "webhook", "telegram", "kpi")


class Profiles(ClosedModel):
    """Seed 003's alert profiles of a task, by type: ``alarm``, ``threshold`` and ``kpi``
    take one profile at most, the others several."""

    alarm: One | None = None
    email: Many | None = None
    threshold: One | None = None
    pagerduty: Many | None = None
    webhook: Many | None = None
    telegram: Many | None = None
    kpi: One | None = None


def profiles_shown(value: Any) -> dict[str, list[Any]]:
    """The types a stored ``profiles`` names, with their ids (those with none left out)."""
    if not isinstance(value, dict):
        return {}
    return {t: list(value[t]) for t in PROFILE_TYPES if isinstance(value.get(t), list) and value[t]}


TokenName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.@-]{1,64}$")]


class Definition(ClosedModel):
    """What an admin may define about an entry; every field optional (an amendment gives
    some), ``null`` returns a field to its default."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "description": "Adds two numbers",
                    "task_arguments": [
                        {"type": "number", "label": "x"},
                        {"type": "fixed", "value": 2},
                    ],
                    "timeout": 60,
                    "multitasking": False,
                }
            ]
        },
    )

    description: Annotated[str, StringConstraints(max_length=10_000)] | None = None
    tags: Annotated[list[Tag], Field(max_length=100)] | None = None
    task_arguments: Annotated[list[TaskArgument], Field(max_length=100)] | None = Field(
        default=None,
        description="Ordered; null: not described, a run passes the caller's values as given",
    )
    timeout: Annotated[StrictInt, Field(ge=1, le=MAX_TIMEOUT)] | None = Field(
        default=None, description=f"Seconds, the run's time limit; null: {DEFAULT_TIMEOUT}"
    )
    multitasking: StrictBool | None = Field(
        default=None, description="false: a run is refused while one is active; null: true"
    )
    acl: Annotated[list[TokenName], Field(max_length=1000)] | None = Field(
        default=None, description="Token names that may see and run it, besides admins"
    )
    profiles: Profiles | None = Field(
        default=None, description="Alert profile ids by type (seed 003's TaskInfo shows them)"
    )


DEFINABLE = tuple(Definition.model_fields)
"""The fields :class:`Definition` names, in its order."""


def definition_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` checked against :class:`Definition`, as JSON, only the ones given; an
    argument without a label, value or help has no such key (one way to write each)."""
    given = Definition.model_validate(fields)
    out = given.model_dump(mode="json", include=given.model_fields_set)
    if given.profiles is not None:
        out["profiles"] = profiles_shown(given.profiles.model_dump(mode="json"))
    if given.task_arguments is not None:
        out["task_arguments"] = [
            argument.model_dump(mode="json", exclude_none=True) for argument in given.task_arguments
        ]
    return out
