"""What to do after an attempt to deliver: done, try again later, or give up for good.

Retries follow what the channels document: 429 and 5xx (and no answer at all) are worth
another attempt, with exponential backoff (or the ``Retry-After`` the channel asked for);
any other 4xx will not change on retry, so the channel is disabled and shows why. Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Verdict = Literal["delivered", "retry", "permanent"]


@dataclass(frozen=True, slots=True)
class Answer:
    """What one attempt got back: a status code, or an error and no code (no answer)."""

    code: int | None = None
    error: str | None = None
    retry_after: float | None = None
    permanent: bool = False
    """Set by transports whose codes are not HTTP's (SMTP's 5xx is a permanent refusal)."""


def verdict(answer: Answer) -> Verdict:
    if answer.permanent:
        return "permanent"
    if answer.code is None:
        return "retry"
    if 200 <= answer.code < 300:
        return "delivered"
    if answer.code == 429 or answer.code >= 500:
        return "retry"
    return "permanent"


@dataclass(frozen=True, slots=True)
class Backoff:
    attempts: int = 5
    """Attempts per notification in one go, the first included."""
    base: float = 0.5
    cap: float = 30.0

    def delay(self, attempt: int, answer: Answer) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        if answer.retry_after is not None:
            return min(max(answer.retry_after, 0.0), self.cap)
        return min(self.base * 2.0 ** (attempt - 1), self.cap)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (its HTTP-date form is not used by these channels)."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
