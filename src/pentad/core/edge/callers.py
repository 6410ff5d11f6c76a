"""Identify the caller without touching the database, to key rate limits and idempotency records.

API keys are keyed by their hash, JWTs by their verified user id, everything else by client IP. A forged
or expired JWT falls back to the IP, so it cannot buy a fresh bucket.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import Headers
from starlette.types import Scope

from pentad.core.identity.apikeys import hash_api_key, looks_like_api_key

SubjectPeeker = Callable[[str], str | None]


def bearer_credential(headers: Headers) -> str | None:
    api_key = headers.get("x-api-key")
    if api_key:
        return api_key.strip()
    authorization = headers.get("authorization", "")
    scheme, _, credential = authorization.partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    return None


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def caller_key(scope: Scope, peek_subject: SubjectPeeker) -> str:
    credential = bearer_credential(Headers(scope=scope))
    if credential:
        if looks_like_api_key(credential):
            return "key:" + hash_api_key(credential)[:32]
        subject = peek_subject(credential)
        if subject:
            return "user:" + subject
    return "ip:" + client_ip(scope)
