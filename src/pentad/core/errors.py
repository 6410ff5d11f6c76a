"""One error type for the whole service; each surface renders it in its own document's envelope.

Services and engines raise `ApiError` (or a subclass). They never build HTTP responses: the surface's
renderer (see `pentad.core.envelopes`) shapes the body, so one failure reads correctly in all five documents.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A failure with an HTTP status, a machine-readable code and a human message."""

    status: int = 500
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        status: int | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = details or {}
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.headers: dict[str, str] = headers or {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"


class BadRequest(ApiError):
    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"

    def __init__(self, resource_type: str, resource_id: str, message: str | None = None) -> None:
        super().__init__(
            message or f"{resource_type.capitalize()} with ID '{resource_id}' not found",
            details={"resource_type": resource_type, "resource_id": resource_id},
        )


class MethodNotAllowed(ApiError):
    status = 405
    code = "method_not_allowed"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class ValidationFailed(ApiError):
    """Payload validation: `details["fields"]` lists `{"field": ..., "error": ...}` entries."""

    status = 422
    code = "validation_error"

    def __init__(self, message: str, fields: list[dict[str, str]] | None = None, **extra: Any) -> None:
        details: dict[str, Any] = {"fields": fields or []}
        details.update(extra)
        super().__init__(message, details=details)


class RateLimited(ApiError):
    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: int, limit: int, reset: int) -> None:
        self.retry_after = retry_after
        super().__init__(
            f"Too many requests. Please retry after {retry_after} seconds.",
            details={"retry_after": retry_after, "limit": limit, "reset": reset},
            headers={"Retry-After": str(retry_after)},
        )


class UpstreamError(ApiError):
    status = 502
    code = "upstream_error"


class ServiceUnavailable(ApiError):
    status = 503
    code = "service_unavailable"
