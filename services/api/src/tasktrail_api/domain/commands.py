"""Request bodies of the command endpoints: the shared argument models themselves.

A body is the model of ``tasktrail_shared.commands.ARGUMENTS`` that control validates with,
so every rule of the contract (cross-field ones included: ``run`` takes ``eta`` or
``countdown``, not both) refuses a bad body here with a 400, never at control with a 502,
and a body dumps to exactly the arguments control executes. Only ``revoke`` has a body of
its own, for the original API's field name ``ides`` and its limit of ids per request; and
``run`` and ``purge`` add the cluster to send them to (``app``), which is no argument (and
``run`` keeps the catalog's labels for catalog runs).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, ValidationError, model_validator
from tasktrail_shared.catalog import CATALOG_LABELS
from tasktrail_shared.commands import Ids, PurgeArgs, RetryArgs, RevokeArgs, RunArgs, problems

from tasktrail_api.domain.errors import Unprocessable
from tasktrail_api.domain.scope import ClusterName

MAX_REVOKED = 1000
"""Task ids one ``POST /monitor/tasks/revoke`` may name (the original API's limit)."""
IDEMPOTENCY_KEY = r"^[!-~](?:[ -~]{0,253}[!-~])?$"
"""An ``Idempotency-Key``: 1 to 255 printable ASCII characters, no space at either end."""


def _at_most_revoked(ids: Any) -> Any:
    if isinstance(ids, list) and len(ids) > MAX_REVOKED:
        raise ValueError(f"at most {MAX_REVOKED} task ids per request")
    return ids


class RevokeBody(RevokeArgs):
    ids: Annotated[Ids, BeforeValidator(_at_most_revoked)] = Field(
        validation_alias="ides",
        description="Task ids (``ides``: the original API's spelling)",
        json_schema_extra={"maxItems": MAX_REVOKED},
    )


CLUSTER_FIELD = Field(
    default=None,
    description="The cluster (app) to send it to; absent: the caller's only cluster, or the "
    "API's own (see docs/api.md)",
)


class RunBody(RunArgs):
    """``POST /monitor/tasks/run``: the contract's model and the cluster, but for the labels
    of catalog runs, which only the catalog gives (a run's origin and starter are audit
    facts)."""

    app: ClusterName | None = CLUSTER_FIELD

    @model_validator(mode="after")
    def _no_catalog_labels(self) -> RunBody:
        taken = sorted(CATALOG_LABELS & set(self.labels or {}))
        if taken:
            raise ValueError(f"labels {', '.join(taken)} are given by catalog runs only")
        return self


class PurgeBody(PurgeArgs):
    app: ClusterName | None = CLUSTER_FIELD


def retry_arguments(task_id: str, doc: Mapping[str, Any]) -> RetryArgs:
    """``retry``'s arguments from the task as recorded; Unprocessable unless its name is known
    and its arguments were captured whole (the contract's rule)."""
    name, args, kwargs, queue = (doc.get(k) for k in ("name", "args", "kwargs", "queue"))
    if not isinstance(name, str) or not name:
        raise Unprocessable("the task's name is not known, so it cannot be sent again")
    raw = {
        "id": task_id,
        "name": name,
        "args": args if isinstance(args, str) else None,
        "kwargs": kwargs if isinstance(kwargs, str) else None,
        "queue": queue if isinstance(queue, str) else None,
    }
    try:
        return RetryArgs.model_validate(raw)
    except ValidationError as exc:
        raise Unprocessable(f"the task cannot be sent again: {problems(exc)}") from exc
