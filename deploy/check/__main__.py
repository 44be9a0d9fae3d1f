"""``python -m deploy.check [ROOT]``: the repository's deployment files, or ROOT's."""

from __future__ import annotations

import sys
from pathlib import Path

from deploy.check import run


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1 or args[:1] in (["-h"], ["--help"]):
        print("usage: python -m deploy.check [ROOT]", file=sys.stderr)
        return 2
    root = Path(args[0]) if args else Path(__file__).resolve().parents[2]
    report = run(root)
    for problem in report.problems:
        print(problem)
    if report.ok:
        print(f"deploy check: ok ({root})")
        return 0
    print(f"deploy check: {len(report.problems)} problem(s)")
    return 1


if __name__ == "__main__":
    sys.exit(main())
