"""The task catalog as seed 001 (TheEye's tasks API) shows it: entries, their recipes, the
arguments of a run, and a run (a "job") as its task document tells it. Pure.

An entry is a ``catalog`` document (the projector's); a job is a ``tasks`` document labelled
by the catalog run that started it (``tasktrail_shared.catalog``: ``catalog_id``, ``origin``,
``started_by``), so a run's lifecycle is whatever Celery's events say about its task.
"""

from __future__ import annotations

import ast
import hmac
import json
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import ConfigDict, Field, StringConstraints
from tasktrail_shared.catalog import (
    CATALOG_ID_LABEL,
    DEFAULT_TIMEOUT,
    DEFINABLE,
    ENTRY_ID_PATTERN,
    MAX_NAME,
    ORIGIN_LABEL,
    STARTED_BY_LABEL,
    Definition,
    Origin,
    profiles_shown,
)
from tasktrail_shared.fields import StorableJson, check_storable
from tasktrail_shared.models import ClosedModel
from tasktrail_shared.states import (
    FAILURE,
    PENDING,
    READY_STATES,
    RECEIVED,
    REJECTED,
    REVOKED,
    STARTED,
    SUCCESS,
    UNFINISHED,
)

from tasktrail_api.domain.errors import BadRequest
from tasktrail_api.domain.plan import Doc, Query
from tasktrail_api.domain.principals import Principal, Role, short_name
from tasktrail_api.domain.serializers import plain

KEY_LENGTH = 64
KEY = re.compile(r"[0-9a-f]{64}")
MAX_ENTRIES = 10_000
"""Entries one list answers (a catalog holds task names, not tasks)."""
MAX_CLEARED = 10_000
"""Finished runs one ``DELETE .../job`` removes."""
MAX_ARGUMENTS = 100
ENTRY_FIELDS = ("id", "app", "name", *DEFINABLE, "discovered_by", "first_seen", "deleted")
ENTRY_PROJECTION = dict.fromkeys(ENTRY_FIELDS, 1)
LOCAL = ("acl", "profiles")
"""What an entry defines that only means something in this installation."""
JOB_FIELDS = (
    "name", "args", "state", "labels", "sent", "timestamp", "worker", "result", "exception",
    "traceback", "revoke", "started", "app", "lost", "deleted",
)  # fmt: skip
JOB_PROJECTION = dict.fromkeys(JOB_FIELDS, 1)
Slug = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
EntryId = Annotated[str, StringConstraints(pattern=ENTRY_ID_PATTERN)]
TIME_LIMIT_EXCEEDED = re.compile(r"\b(Soft)?TimeLimitExceeded\b")


# --- secret keys --------------------------------------------------------------------------------


def new_key() -> str:
    """64 hexadecimal characters: 256 random bits."""
    return secrets.token_hex(KEY_LENGTH // 2)


def key_problem(stored: str | None, given: str) -> str | None:
    """Why ``given`` does not open the entry whose key is ``stored`` (``None``: it does).
    Compared in constant time, against a stand-in when the entry has no key."""
    if len(given) != KEY_LENGTH:
        return f"the key is not {KEY_LENGTH} characters"
    matches = hmac.compare_digest((stored or "-" * KEY_LENGTH).encode(), given.encode())
    if stored is None:
        return "the entry has no key"
    return None if matches else "wrong key"


# --- request bodies -----------------------------------------------------------------------------


class JobRequest(ClosedModel):
    """A run's body, as JSON or as an HTML form (``task_arguments[]`` repeated)."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"task_arguments": ["arg1", "arg2"]}]},
    )

    customer: Slug | None = Field(default=None, description="The organisation, if not in the path")
    task: EntryId | None = Field(default=None, description="The task's id, if not in the path")
    task_arguments: Annotated[list[StorableJson], Field(max_length=MAX_ARGUMENTS)] = Field(
        default_factory=list, description="The values of the task's input arguments, in order"
    )


def one_of(name: str, in_path: str | None, in_body: str | None) -> str:
    """The organisation or task named in the path or query, or in the body; not both unless
    they agree."""
    if in_path is not None and in_body is not None and in_path != in_body:
        raise BadRequest.field(name, f"the body says {in_body!r}, the path {in_path!r}")
    value = in_path if in_path is not None else in_body
    if value is None:
        raise BadRequest.field(name, "required (in the path, the query or the body)")
    return value


class RecipeTask(Definition):
    """A recipe's task: what an admin defined, portable between organisations."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)]


class RecipeImport(ClosedModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"task": {"name": "demo.add", "timeout": 60, "tags": ["math"]}}]
        },
    )

    task: RecipeTask
    app: Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)] | None = Field(
        default=None, description="The cluster; needed when the organisation has several"
    )


def imported_fields(task: RecipeTask) -> dict[str, Any]:
    """Every field a recipe sets: what it leaves out returns to its default, except ``acl``
    (recipes do not carry one), which stays as it is unless given."""
    given = task.model_dump(mode="json", exclude={"name"})
    if "acl" not in task.model_fields_set:
        given.pop("acl")
    return given


# --- arguments of a run -------------------------------------------------------------------------


def _number(value: Any, position: int) -> int | float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    text = str(value).strip() if isinstance(value, str) else ""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise BadRequest.field(f"task_arguments.{position}", "must be a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise BadRequest.field(f"task_arguments.{position}", "must be a finite number")
    return number


def _json(value: Any, position: int) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return check_storable(json.loads(value))
    except (ValueError, RecursionError) as exc:
        raise BadRequest.field(f"task_arguments.{position}", f"not JSON: {exc}") from None


def run_arguments(definitions: Sequence[Mapping[str, Any]] | None, given: list[Any]) -> list[Any]:
    """The task's positional arguments: fixed values where the entry fixes them, the caller's
    values in order for the others. An entry without described arguments takes the values
    as given."""
    if definitions is None:
        return list(given)
    inputs = [d for d in definitions if d.get("type") != "fixed"]
    if len(given) != len(inputs):
        few = "few" if len(given) < len(inputs) else "many"
        raise BadRequest.field(
            "task_arguments",
            f"too {few} arguments: the task requires {len(inputs)}, {len(given)} given",
        )
    values = iter(given)
    out: list[Any] = []
    for definition in definitions:
        kind = definition.get("type")
        if kind == "fixed":
            out.append(definition.get("value"))
            continue
        value = next(values)
        position = len(out)
        out.append(
            _number(value, position)
            if kind == "number"
            else _json(value, position)
            if kind == "json"
            else value
        )
    return out


def time_limit(entry: Mapping[str, Any]) -> float:
    timeout = entry.get("timeout")
    return float(timeout if isinstance(timeout, int) and timeout > 0 else DEFAULT_TIMEOUT)


def run_labels(entry: Mapping[str, Any], origin: Origin, actor: str) -> dict[str, str]:
    return {CATALOG_ID_LABEL: str(entry["_id"]), ORIGIN_LABEL: origin, STARTED_BY_LABEL: actor}


# --- who sees what ------------------------------------------------------------------------------


def may_use(entry: Mapping[str, Any], caller: Principal) -> bool:
    """Admins see and run every entry; other tokens those whose ``acl`` names them (by the
    name they were given in their organisation)."""
    if caller.role >= Role.admin:
        return True
    acl = entry.get("acl")
    return isinstance(acl, list) and short_name(caller.name) in acl


def by_name(entry: Mapping[str, Any]) -> tuple[str, str]:
    return str(entry.get("name")), str(entry.get("_id"))


def live_entries() -> Query:
    return {"deleted": False}


def active_runs(entry_id: str) -> Query:
    """Unfinished runs of an entry, but those whose worker died (``lost``): a dead worker must
    not block a task that allows one run at a time for good."""
    return {
        "deleted": False,
        f"labels.{CATALOG_ID_LABEL}": entry_id,
        "state": {"$in": list(UNFINISHED)},
        "lost": False,
    }


def finished_runs(entry_id: str) -> Query:
    return {
        "deleted": False,
        f"labels.{CATALOG_ID_LABEL}": entry_id,
        "state": {"$in": sorted(READY_STATES)},
    }


def is_run_of(doc: Mapping[str, Any] | None, entry_id: str | None = None) -> bool:
    """Whether ``doc`` is a live task started from the catalog (from entry ``entry_id``)."""
    if doc is None or doc.get("deleted") is True:
        return False
    labels = doc.get("labels")
    started = labels.get(CATALOG_ID_LABEL) if isinstance(labels, Mapping) else None
    return isinstance(started, str) and (entry_id is None or started == entry_id)


# --- answers ------------------------------------------------------------------------------------


def entry(doc: Doc, customer: str) -> dict[str, Any]:
    """An entry as TheEye shows a task (``timeout`` null: the default, 600 s)."""
    multitasking = doc.get("multitasking")
    return {
        "id": str(doc["_id"]),
        "name": str(doc.get("name")),
        "type": "celery",
        "customer_name": customer,
        "app": plain(doc.get("app")),
        "description": plain(doc.get("description")),
        "tags": plain(doc.get("tags") or []),
        "task_arguments": plain(doc.get("task_arguments")),
        "timeout": plain(doc.get("timeout")),
        "multitasking": multitasking if isinstance(multitasking, bool) else True,
        "acl": plain(doc.get("acl") or []),
        "profiles": profiles_shown(doc.get("profiles")),
        "discovered_by": plain(doc.get("discovered_by") or []),
        "creation_date": plain(doc.get("first_seen")),
    }


def recipe(doc: Doc) -> dict[str, Any]:
    """What another catalog needs to define the same task (no ACL, no key, no alert
    profiles: their ids are this installation's)."""
    task = {"name": str(doc.get("name"))}
    task.update({name: plain(doc.get(name)) for name in DEFINABLE if name not in LOCAL})
    return {"task": task}


def lifecycle(doc: Mapping[str, Any]) -> tuple[str, str]:
    """TheEye's ``(lifecycle, state)`` of a run from its task's Celery state."""
    state = doc.get("state")
    if state == SUCCESS:
        return "finished", "success"
    if state == FAILURE:
        return ("terminated", "timeout") if _timed_out(doc) else ("finished", "failure")
    if state == REVOKED:
        return _revoked(doc)
    if state == REJECTED:
        return "canceled", "canceled"
    return {RECEIVED: "assigned", STARTED: "started"}.get(str(state), "ready"), "in_progress"


def _timed_out(doc: Mapping[str, Any]) -> bool:
    """Whether the task failed on its time limit: the exception says so, or, when Celery
    reports a killed process's exception as ``ExceptionWithTraceback()``, the last line of
    the traceback does."""
    exception, traceback = doc.get("exception"), doc.get("traceback")
    last = traceback.strip().rsplit("\n", 1)[-1] if isinstance(traceback, str) else ""
    return any(
        isinstance(text, str) and TIME_LIMIT_EXCEEDED.search(text) for text in (exception, last)
    )


def _revoked(doc: Mapping[str, Any]) -> tuple[str, str]:
    revoke = doc.get("revoke") if isinstance(doc.get("revoke"), Mapping) else {}
    if (revoke or {}).get("expired"):
        return "expired", "expired"
    if (revoke or {}).get("terminated") or doc.get("started") is not None:
        return "terminated", "canceled"
    return "canceled", "canceled"


def argument_values(args: Any) -> Any:
    """The run's arguments: a list as given, or read back from Celery's repr of them (null
    when Celery cut it short)."""
    if isinstance(args, list):
        return plain(args)
    if not isinstance(args, str) or "..." in args:
        return None
    try:
        value = ast.literal_eval(args)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None
    return plain(list(value)) if isinstance(value, list | tuple) else None


def job(doc: Doc, customer: str) -> dict[str, Any]:
    """A run as TheEye shows a job; ``status`` is the task's Celery state."""
    labels = doc.get("labels") if isinstance(doc.get("labels"), Mapping) else {}
    phase, outcome = lifecycle(doc)
    return {
        "id": str(doc["_id"]),
        "task_id": plain((labels or {}).get(CATALOG_ID_LABEL)),
        "name": plain(doc.get("name")),
        "customer_name": customer,
        "task_arguments_values": argument_values(doc.get("args")),
        "lifecycle": phase,
        "state": outcome,
        "status": str(doc.get("state") or PENDING),
        "user": plain((labels or {}).get(STARTED_BY_LABEL)),
        "origin": plain((labels or {}).get(ORIGIN_LABEL)),
        "creation_date": plain(doc.get("sent") or doc.get("timestamp")),
        "last_update": plain(doc.get("timestamp")),
        "worker": plain(doc.get("worker")),
        "result": plain(doc.get("result")),
        "exception": plain(doc.get("exception")),
    }


def sent_job(task_id: str, entry_doc: Mapping[str, Any], values: list[Any], labels: Doc) -> Doc:
    """A run just sent, as its task document will first read (for an answer that cannot wait
    for the projector any longer)."""
    return {
        "_id": task_id,
        "name": entry_doc.get("name"),
        "args": values,
        "state": PENDING,
        "labels": labels,
    }


def as_known(doc: Doc, sent: Doc) -> Doc:
    """The projected run, with what was sent where no event has told it yet (the arguments
    arrive with the task's own events)."""
    return {**doc, **{k: v for k, v in sent.items() if doc.get(k) is None}}
