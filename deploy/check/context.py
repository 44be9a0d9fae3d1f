"""The build context: the repository root, less what ``.dockerignore`` excludes.

Matching follows Docker's own rules, through docker-py's ``PatternMatcher`` (a port of the
engine's matcher: the last matching pattern wins, ``!`` re-includes, a pattern matching a
directory matches what is under it).
"""

from __future__ import annotations

from pathlib import Path

from docker.utils.build import PatternMatcher

from deploy.check.report import Report

DOCKERIGNORE = ".dockerignore"
# Local environments, history, tools and data: large, machine-specific, possibly secret.
KEPT_OUT = (".venv", ".git", ".tools", ".data")


class BuildContext:
    def __init__(self, root: Path, patterns: list[str]) -> None:
        self.root = root
        self.matcher = PatternMatcher(patterns)

    def excludes(self, path: str) -> bool:
        """Is ``path`` (a file, or every file under a directory) left out of the context?"""
        target = self.root / path
        files = [target] if target.is_file() else [p for p in target.rglob("*") if p.is_file()]
        return all(bool(self.matcher.matches(f.relative_to(self.root).as_posix())) for f in files)


def read_build_context(root: Path, report: Report) -> BuildContext:
    """The context, after checking that it keeps the local environments out."""
    path = root / DOCKERIGNORE
    lines = path.read_text().splitlines() if path.is_file() else []
    patterns = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    context = BuildContext(root, patterns)
    for name in KEPT_OUT:
        if not context.matcher.matches(f"{name}/file"):
            report.problem(f"{DOCKERIGNORE}: does not keep {name}/ out of the build context")
    return context
