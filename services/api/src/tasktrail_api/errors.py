"""One exception type for every failure the API reports; the handler turns it into an envelope."""

from __future__ import annotations


class ApiError(Exception):
    """An error with the HTTP status and the envelope's ``err_code``/``err_msg``."""

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        err_code: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.err_code = status_code if err_code is None else err_code
        self.message = message
        self.headers = headers


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")


def unauthorized(message: str) -> ApiError:
    return ApiError(401, message, headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str) -> ApiError:
    return ApiError(403, message)


def conflict(message: str) -> ApiError:
    return ApiError(409, message)


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"the request body is larger than {limit} bytes")


def unavailable(message: str) -> ApiError:
    """A dependency (MongoDB, NATS, the control service) cannot serve the request now."""
    return ApiError(503, message)


def bad_gateway(message: str) -> ApiError:
    """The control service answered, but with a failure or an unreadable reply."""
    return ApiError(502, message)
