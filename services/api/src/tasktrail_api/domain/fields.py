"""Which fields a hand-made task or worker write (``recorded``, ``amended``) may set, which
names labels may take, and which JSON values MongoDB stores as given: the projector's own
rules, so that an event the API publishes is never dead-lettered."""

from __future__ import annotations

import math
import re
from typing import Any

TASK_SETTABLE = frozenset(
    {
        "sent", "received", "started", "succeeded", "failed", "retried", "revoked", "rejected",
        "timestamp", "name", "args", "kwargs", "retries", "eta", "expires", "root_id",
        "parent_id", "queue", "exchange", "routing_key", "state", "result", "runtime",
        "exception", "traceback", "worker",
    }
)  # fmt: skip
"""Fields a hand-made task write may set (the projector's list); any other name is a label."""
TASK_RESERVED = frozenset(
    {"id", "uuid", "app", "children", "labels", "deleted", "lost", "finished", "revoke", "status"}
)
"""Names that are neither settable nor labels: the projector owns them."""
WORKER_SETTABLE = ("pid", "freq", "active", "processed", "loadavg", "sw_ident", "sw_ver", "sw_sys")
"""Worker fields a hand-made write may set (the rest comes from heartbeats)."""
SEED_LABELS = ("cidr_id", "cidr_ip_network", "asn_id", "asn_number")
"""Labels seed 000 shows as top-level task fields (the projector stores them there too)."""

LABEL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
INT64 = 2**63
MAX_DEPTH = 32


def is_label_name(name: str) -> bool:
    """A letter, then letters, digits or ``_``; not a settable field nor a reserved one."""
    return bool(LABEL_NAME.match(name)) and name not in TASK_SETTABLE | TASK_RESERVED


def _storable_scalar(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        if not -INT64 <= value < INT64:
            raise ValueError("integers must fit in 64 bits")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("numbers must be finite")
        return value
    raise ValueError(f"unsupported value of type {type(value).__name__}")


def storable(value: Any, depth: int = 0) -> Any:
    """A JSON value MongoDB can store and that reads back the same: finite numbers, 64-bit
    integers, object keys that are not operators or paths."""
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, list):
        return [storable(v, depth + 1) for v in value]
    if isinstance(value, dict):
        for key in value:
            if key.startswith("$") or "." in key or "\x00" in key:
                raise ValueError(f"object key {key[:40]!r} may not start with $ or hold . or NUL")
        return {k: storable(v, depth + 1) for k, v in value.items()}
    return _storable_scalar(value)
