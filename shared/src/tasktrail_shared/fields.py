"""Which fields a task or worker record may set, what a label is, and what MongoDB can store.

The API builds ``tasktrail.task.*`` / ``tasktrail.worker.*`` record payloads from request
bodies and the projector folds them into documents. Both read the rules here, so that every
body the API accepts is a record the projector applies field for field: none is silently
dropped, none is dead-lettered.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import AfterValidator

TASK_TIMES = (
    "sent",
    "received",
    "started",
    "succeeded",
    "failed",
    "retried",
    "revoked",
    "rejected",
)
"""A task's lifecycle times, in the order Celery's events set them."""
TASK_TIME_FIELDS = frozenset({*TASK_TIMES, "timestamp"})
"""Task fields that hold a time (ISO 8601 in a record, a UTC datetime in a document)."""
TASK_SETTABLE = frozenset(
    {
        *TASK_TIME_FIELDS,
        "name", "args", "kwargs", "retries", "eta", "expires", "root_id", "parent_id", "queue",
        "exchange", "routing_key", "state", "result", "runtime", "exception", "traceback",
        "worker",
    }
)  # fmt: skip
"""Task fields a record may set; any other name a record gives is a label."""
TASK_RESERVED = frozenset(
    {"id", "uuid", "app", "children", "labels", "deleted", "lost", "finished", "revoke", "status"}
)
"""Task fields derived or identifying, which no record sets and no label may be called
(``status`` is the API's name for ``state``)."""
WORKER_REPORTED = ("pid", "freq", "active", "processed", "loadavg", "sw_ident", "sw_ver", "sw_sys")
"""Worker fields its own events report; a record may set them too."""
WORKER_SETTABLE = frozenset({*WORKER_REPORTED, "status"})
"""Worker fields a record may set: the reported ones and ``status``, a declared online
(true) or offline (false)."""
SEED_LABELS = ("cidr_id", "cidr_ip_network", "asn_id", "asn_number")
"""Labels seed 000 filters on and shows as top-level task fields."""


def label_index(name: str) -> tuple[str, list[tuple[str, int]]]:
    """The index a list filtered by label ``name`` walks (newest first, per cluster): the API
    creates it for the seed's labels, the projector for the ones it is configured with, and
    the API refuses a label filter that has none."""
    return f"live_label_{name}", [
        ("deleted", 1), ("app", 1), (f"labels.{name}", 1), ("timestamp", 1), ("_id", 1)
    ]  # fmt: skip


LABEL_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
"""A label name: a letter, then up to 63 letters, digits or ``_`` (a MongoDB path step)."""
LABEL_NAME = re.compile(LABEL_NAME_PATTERN)

INT64 = 2**63
"""MongoDB integers are signed 64-bit: ``-INT64 <= n < INT64``."""
MAX_DEPTH = 32
"""How deep a stored JSON value may nest (documents nest it a few levels further)."""


def is_label_name(name: object) -> bool:
    """True if ``name`` may name a label: the pattern, and not a task field or reserved name."""
    return (
        isinstance(name, str)
        and LABEL_NAME.fullmatch(name) is not None
        and name not in TASK_SETTABLE
        and name not in TASK_RESERVED
    )


def is_task_field(name: object) -> bool:
    """True if a task record may carry ``name``: a settable field, or a label."""
    return name in TASK_SETTABLE or is_label_name(name)


def is_label_value(value: object) -> bool:
    """A scalar an index can use: text, a flag, a 64-bit integer or a finite number."""
    if isinstance(value, bool | str):
        return True
    if isinstance(value, int):
        return -INT64 <= value < INT64
    return isinstance(value, float) and math.isfinite(value)


def _check_key(key: object) -> None:
    if not isinstance(key, str):
        raise ValueError(f"object keys must be text, not {type(key).__name__}")
    if key.startswith("$") or "." in key or "\x00" in key:
        raise ValueError(f"object key {key[:40]!r} may not start with $ or hold . or NUL")


def _check_scalar(value: object) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and not -INT64 <= value < INT64:
        raise ValueError("integers must fit in 64 bits")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("numbers must be finite")
    if not (value is None or isinstance(value, bool | str | int | float)):
        raise ValueError(f"unsupported value of type {type(value).__name__}")


def check_storable(value: Any, depth: int = 0) -> Any:
    """``value`` itself if MongoDB stores it and reads it back the same, else ``ValueError``:
    finite numbers, 64-bit integers, object keys that are not operators or paths, and at
    most :data:`MAX_DEPTH` levels of nesting."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, list):
        for item in value:
            check_storable(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_key(key)
            check_storable(item, depth + 1)
    else:
        _check_scalar(value)
    return value


def check_label_value(value: Any) -> Any:
    """``value`` itself if it can be a label's value (see :func:`is_label_value`)."""
    if not is_label_value(value):
        raise ValueError("a label is text, true/false, a 64-bit integer or a finite number")
    return value


StorableJson = Annotated[Any, AfterValidator(check_storable)]
"""A pydantic field type: any JSON value :func:`check_storable` accepts."""
LabelValue = Annotated[str | bool | int | float, AfterValidator(check_label_value)]
"""A pydantic field type: a label's value."""
