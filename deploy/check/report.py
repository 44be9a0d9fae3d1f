"""What the check found: one line per problem, each said once."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)

    def problem(self, message: str) -> None:
        """Records ``message`` once: several builds or compose models may share the line at
        fault, and the reader needs to see it only once."""
        if message not in self.problems:
            self.problems.append(message)

    @property
    def ok(self) -> bool:
        return not self.problems
