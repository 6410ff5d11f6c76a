"""Render an ApiError in each document's own error envelope.

spec 000 (vsm):       {"error": {"code", "message", "details"}, "request_id"}
spec 001 (assistant): {"error": {"code", "message", "details", "request_id"}}   (+ "retry_after" on 429)
spec 002 (crm):       {"error": message, "code", "details"}
spec 003 (gateway):   {"error": reason phrase, "message", "code": status}
spec 004 (builds):    {"error": error_type, "detail", "status_code", "timestamp"}
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from pentad.core.db import isoformat_z, utcnow
from pentad.core.errors import ApiError

# Each document's own code names for the shared statuses.
_VSM_CODES = {
    400: "VALIDATION_ERROR",
    401: "AUTHENTICATION_REQUIRED",
    403: "PERMISSION_DENIED",
    404: "RESOURCE_NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMIT_EXCEEDED",
    500: "INTERNAL_ERROR",
    502: "UPSTREAM_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
_ASSISTANT_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    422: "VALIDATION_ERROR",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
    502: "UPSTREAM_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
_BUILDS_CODES = {
    400: "validation_error",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "validation_error",
    429: "rate_limit_exceeded",
    500: "internal_error",
    502: "upstream_error",
    503: "service_unavailable",
}


def _upper_code(error: ApiError, table: dict[int, str]) -> str:
    return table.get(error.status, error.code.upper())


def render(surface: str, error: ApiError, request_id: str) -> dict[str, Any]:
    if surface == "vsm":
        return {
            "error": {
                "code": _upper_code(error, _VSM_CODES),
                "message": error.message,
                "details": error.details,
            },
            "request_id": request_id,
        }
    if surface == "crm":
        return {
            "error": error.message,
            "code": _upper_code(error, _ASSISTANT_CODES),
            "details": error.details,
        }
    if surface == "gateway":
        return {"error": _reason(error.status), "message": error.message, "code": error.status}
    if surface == "builds":
        body: dict[str, Any] = {
            "error": _BUILDS_CODES.get(error.status, error.code),
            "detail": error.message,
            "status_code": error.status,
            "timestamp": isoformat_z(utcnow()),
        }
        if error.details.get("fields"):
            body["fields"] = error.details["fields"]
        return body
    envelope: dict[str, Any] = {
        "error": {
            "code": _upper_code(error, _ASSISTANT_CODES),
            "message": error.message,
            "details": error.details,
            "request_id": request_id,
        }
    }
    if error.status == 429 and "retry_after" in error.details:
        envelope["error"]["retry_after"] = error.details["retry_after"]
    return envelope


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
