"""Typed exceptions for every failure the SDK reports.

Each of the five documents wraps errors in its own envelope; `error_from_response` reads all of them
(and FastAPI's bare `{"detail": ...}`) into one `PentadError` carrying status, code, message, details
and request id, raised as the subclass for its status:

    spec 000  {"error": {"code", "message", "details"}, "request_id"}
    spec 001  {"error": {"code", "message", "details", "request_id", "retry_after"?}}
    spec 002  {"error": "<message>", "code": "<CODE>", "details": {...}}
    spec 003  {"error": "<reason phrase>", "message": "<message>", "code": <status>}
    spec 004  {"error": "<error_type>", "detail": "<message>", "status_code": <status>, "fields"?}
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "NotFoundError",
    "PentadConnectionError",
    "PentadError",
    "PentadTimeoutError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "ServiceUnavailableError",
    "StreamError",
    "TaskTimeoutError",
    "UnprocessableEntityError",
    "WebSocketClosedError",
    "error_from_response",
    "parse_retry_after",
]


class PentadError(Exception):
    """Base of every SDK error. `status` is the HTTP status, or 0 when no response was received."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str = "",
        details: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details: dict[str, Any] = dict(details or {})
        self.request_id = request_id
        self.retry_after = retry_after
        self.body = body
        self.headers: dict[str, str] = dict(headers or {})

    def __str__(self) -> str:
        head = f"{self.status} {self.code}".strip() if self.status else self.code
        text = f"{head}: {self.message}" if head else self.message
        return f"{text} (request id {self.request_id})" if self.request_id else text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r}, "
            f"request_id={self.request_id!r})"
        )


class BadRequestError(PentadError):
    """400: the request could not be read (not JSON, malformed id...)."""


class AuthenticationError(PentadError):
    """401: missing, invalid, expired or revoked credentials."""


class PermissionDeniedError(PentadError):
    """403: authenticated, but not allowed."""


class NotFoundError(PentadError):
    """404: no such resource, or one the caller may not see."""


class ConflictError(PentadError):
    """409: the resource's state does not allow this (finished task, duplicate name, key in use)."""


class UnprocessableEntityError(PentadError):
    """422: the payload failed validation; `fields` lists `{"field", "error"}` entries."""

    @property
    def fields(self) -> list[dict[str, Any]]:
        fields = self.details.get("fields")
        return list(fields) if isinstance(fields, list) else []


class RateLimitError(PentadError):
    """429: too many requests; `retry_after` says how many seconds to wait, when the server said."""


class ServerError(PentadError):
    """5xx: the server failed."""


class ServiceUnavailableError(ServerError):
    """503: the server (or a component it needs) is not ready."""


class PentadConnectionError(PentadError):
    """No response: the connection failed or broke."""


class PentadTimeoutError(PentadConnectionError):
    """No response within the configured timeout."""


class StreamError(PentadError):
    """An `error` event inside a Server-Sent Events stream that had started well."""


class TaskTimeoutError(PentadError, TimeoutError):
    """A `wait()` helper gave up before the task or build finished."""


class WebSocketClosedError(PentadError):
    """The server closed a WebSocket with an error code (1008: bad token or no access; 1013: too slow)."""

    def __init__(self, close_code: int | None, reason: str = "") -> None:
        names = {1008: "policy_violation", 1011: "internal_error", 1013: "try_again_later"}
        code = names.get(close_code or 0, "websocket_closed")
        super().__init__(reason or f"WebSocket closed ({close_code})", code=code)
        self.close_code = close_code
        self.reason = reason


_BY_STATUS: dict[int, type[PentadError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    503: ServiceUnavailableError,
}


def error_class(status: int) -> type[PentadError]:
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else PentadError


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds: either delta-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def parse_envelope(body: Any) -> tuple[str, str, dict[str, Any], str | None, float | None]:
    """(code, message, details, request_id, retry_after) from any of the five envelopes."""
    if not isinstance(body, Mapping):
        return "", "", {}, None, None
    error = body.get("error")
    if isinstance(error, Mapping):  # spec 000 and spec 001
        retry = error.get("retry_after")
        return (
            str(error.get("code") or ""),
            str(error.get("message") or ""),
            _dict(error.get("details")),
            _text(error.get("request_id")) or _text(body.get("request_id")),
            float(retry) if isinstance(retry, int | float) else None,
        )
    if isinstance(error, str) and "detail" in body:  # spec 004
        details = _dict(body.get("details"))
        if isinstance(body.get("fields"), list):
            details.setdefault("fields", body["fields"])
        return error, str(body.get("detail") or error), details, None, None
    if isinstance(error, str) and "message" in body:  # spec 003: the code is the status itself
        return error, str(body.get("message") or error), _dict(body.get("details")), None, None
    if isinstance(error, str):  # spec 002
        return str(body.get("code") or ""), error, _dict(body.get("details")), None, None
    detail = body.get("detail")  # FastAPI's own shape, should anything answer with it
    if isinstance(detail, str):
        return "", detail, {}, None, None
    if detail is not None:
        return "", "Request failed", {"detail": detail}, None, None
    return "", "", {}, None, None


def error_from_response(response: httpx.Response) -> PentadError:
    """The typed error for a response outside 2xx. The body must already be read."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = response.text
    code, message, details, request_id, body_retry = parse_envelope(body)
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    if retry_after is None:
        retry_after = body_retry
    if not message:
        text = body[:500] if isinstance(body, str) else ""
        message = text or response.reason_phrase or "HTTP error"
    return error_class(response.status_code)(
        message,
        status=response.status_code,
        code=code,
        details=details,
        request_id=request_id or response.headers.get("x-request-id"),
        retry_after=retry_after,
        body=body,
        headers=dict(response.headers),
    )
