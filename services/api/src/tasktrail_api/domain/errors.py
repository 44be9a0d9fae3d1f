"""The failures a use case reports, by what went wrong rather than by HTTP status.

Use cases and adapters raise these; the REST entrypoint maps each class to a status and the
envelope in one place (``tasktrail_api.envelope``), and other entrypoints (the CLI) print
the message.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request that cannot be served as asked; ``message`` says why, for the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(DomainError):
    """A parameter or body is invalid; the message starts with the field at fault."""

    @classmethod
    def field(cls, field: str, message: str) -> BadRequest:
        return cls(f"{field}: {message}")


class Unauthorized(DomainError):
    """No credentials, or credentials no token matches."""


class Forbidden(DomainError):
    """The caller is known, but their role does not allow this."""


class NotFound(DomainError):
    @classmethod
    def named(cls, what: str) -> NotFound:
        return cls(f"{what} not found")


class Conflict(DomainError):
    """It conflicts with what exists (a task recorded twice, a token name taken)."""


class Unprocessable(DomainError):
    """Understood, but it cannot be done (a retry whose arguments were not captured)."""


class CommandFailed(DomainError):
    """The control service answered, with a failure or with a reply that cannot be used."""


class Unavailable(DomainError):
    """A dependency (MongoDB, NATS, the control service) cannot serve the request now."""
