"""Outermost ASGI middleware: request id, security headers, timing, rate limits, last-resort errors.

Pure ASGI rather than BaseHTTPMiddleware: it wraps every request, and a task-per-request wrapper
would cost more than the rest of the edge together.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pentad.core.context import CoreServices
from pentad.core.edge.callers import caller_key, client_ip
from pentad.core.envelopes import render
from pentad.core.errors import ApiError, RateLimited

log = logging.getLogger("pentad.edge")

REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Probes and docs are not rate limited: load balancers poll them and they expose nothing costly.
UNLIMITED_PREFIXES = (
    "/health",
    "/ready",
    "/metrics",
    "/api/health",
    "/api-docs",
    "/swagger-ui",
    "/redoc",
    "/static-offline-docs",
    "/api/v1/health",
)
DOCS_PREFIXES = ("/swagger-ui", "/redoc", "/static-offline-docs")
API_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'"
)


def request_id_of(scope: Scope) -> str:
    state: dict[str, Any] = scope.setdefault("state", {})
    return str(state.get("request_id", ""))


class EdgeMiddleware:
    def __init__(self, app: ASGIApp, core: Callable[[], CoreServices]) -> None:
        self.app = app
        self._core = core

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        core = self._core()
        request_id = _incoming_request_id(scope) or str(uuid.uuid4())
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        path: str = scope["path"]
        surface = core.surfaces.surface_for(path)
        state["surface"] = surface

        caller = caller_key(scope, core.codec.peek_subject)
        state["caller"] = caller
        decision = None
        if not path.startswith(UNLIMITED_PREFIXES):
            limiter_key = "ip:" + client_ip(scope) if core.limiter.keys_by_ip(surface) else caller
            method = scope.get("method", "GET") if scope["type"] == "http" else "WS"
            decision = await core.limiter.check(surface, method, path, limiter_key)

        if scope["type"] == "websocket":
            if decision is not None and not decision.allowed:
                await send({"type": "websocket.close", "code": 1008, "reason": "rate limit exceeded"})
                return
            await self.app(scope, receive, send)
            return

        extra_headers = decision.headers() if decision is not None else {}
        started = time.perf_counter()
        core.telemetry.request_started()
        status_holder = [500]
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal response_started
            if message["type"] == "http.response.start":
                response_started = True
                status_holder[0] = message["status"]
                headers = MutableHeaders(scope=message)
                headers["X-Request-Id"] = request_id
                _security_headers(headers, path, scope.get("scheme") == "https")
                for name, value in extra_headers.items():
                    headers[name] = value
            await send(message)

        try:
            if decision is not None and not decision.allowed:
                error = RateLimited(
                    retry_after=decision.retry_after, limit=decision.limit, reset=decision.reset
                )
                await send_json(
                    send_with_headers, error.status, render(surface, error, request_id), error.headers
                )
                return
            await self.app(scope, receive, send_with_headers)
        except Exception:
            log.exception("unhandled error", extra={"request_id": request_id, "path": path})
            if not response_started:
                internal = ApiError("An internal error occurred")
                await send_json(send_with_headers, 500, render(surface, internal, request_id))
        finally:
            core.telemetry.request_finished(status_holder[0], (time.perf_counter() - started) * 1000, surface)


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1").strip()
            return candidate if REQUEST_ID_PATTERN.match(candidate) else None
    return None


def _security_headers(headers: MutableHeaders, path: str, https: bool) -> None:
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    is_docs = path.startswith(DOCS_PREFIXES)
    headers.setdefault("Content-Security-Policy", DOCS_CSP if is_docs else API_CSP)
    if not is_docs:
        headers.setdefault("Cache-Control", "no-store")
    if https:
        headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")


async def send_json(send: Send, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    payload = json.dumps(body, separators=(",", ":")).encode()
    raw_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    for name, value in (headers or {}).items():
        raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": payload})
