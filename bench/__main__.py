"""``make bench``: every benchmark in turn, each printing its own table and ratios.

Run one alone with ``python -m bench.ingest``, ``python -m bench.project``,
``python -m bench.ceiling``, ``python -m bench.rebuild``, ``python -m bench.api`` or
``python -m bench.alerts`` (each takes ``--help``).
"""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("ingest", "ceiling", "project", "rebuild", "api", "ui", "alerts")


def main() -> int:
    only = sys.argv[1:] or list(BENCHMARKS)
    for name in only:
        print(f"\n=== bench.{name} ===", flush=True)
        module = importlib.import_module(f"bench.{name}")
        module.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
