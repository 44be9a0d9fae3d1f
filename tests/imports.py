"""What importing one module drags in, seen from a fresh interpreter (for layering tests)."""

from __future__ import annotations

import json
import subprocess
import sys

CLIENT_LIBRARIES = ("nats", "pymongo", "redis", "kombu", "celery")
"""The I/O clients only adapters may import."""

_PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[2:]))))
"""


def client_libraries_imported_by(module: str) -> list[str]:
    """The client libraries loaded by ``import <module>`` alone."""
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, module, *CLIENT_LIBRARIES],
        check=True,
        capture_output=True,
        text=True,
    )
    return list(json.loads(result.stdout))
