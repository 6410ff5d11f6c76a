"""Exception handlers: every failure leaves in the envelope of the document that owns the path."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pentad.core.envelopes import render
from pentad.core.errors import ApiError, BadRequest, MethodNotAllowed, ValidationFailed

log = logging.getLogger("pentad.errors")

# pydantic error types that mean "this is not JSON at all" rather than "the JSON has the wrong shape"
_MALFORMED_BODY_TYPES = {"json_invalid", "json_type"}


def error_response(request: Request, error: ApiError) -> JSONResponse:
    state = request.scope.get("state", {})
    surface = str(state.get("surface", "assistant"))
    request_id = str(state.get("request_id", ""))
    return JSONResponse(render(surface, error, request_id), status_code=error.status, headers=error.headers)


def validation_error(errors: list[Any]) -> ApiError:
    fields = []
    for item in errors:
        location = [
            str(part) for part in item.get("loc", ()) if part not in ("body", "query", "path", "header")
        ]
        fields.append({"field": ".".join(location) or "body", "error": str(item.get("msg", "invalid"))})
    if errors and all(item.get("type") in _MALFORMED_BODY_TYPES for item in errors):
        return BadRequest("Request body is not valid JSON", details={"fields": fields})
    return ValidationFailed("Request validation failed", fields=fields)


def install_error_handlers(app: FastAPI) -> None:
    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(request, exc)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(request, validation_error(list(exc.errors())))

    async def on_http_exception(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        error: ApiError
        if exc.status_code == 404:
            error = ApiError(
                f"No route for {request.method} {request.url.path}",
                status=404,
                code="not_found",
                details={"resource_type": "route", "resource_id": request.url.path},
            )
        elif exc.status_code == 405:
            error = MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}")
        else:
            error = ApiError(str(exc.detail), status=exc.status_code, code="http_error")
        response = error_response(request, error)
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(request, ApiError("An internal error occurred"))

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(Exception, on_unexpected)
