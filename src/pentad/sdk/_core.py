"""What every client shares, whatever its I/O: response models, request descriptions (`Call`), the retry
policy and the credentials. A `Call` is built once per operation and sent by either transport, so the
sync and async clients differ only in `await`."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class Model(BaseModel):
    """A response shape. Unknown fields are kept (`model_extra`), so a newer server never breaks a client."""

    model_config = ConfigDict(extra="allow")


class TokenGrant(Model):
    """What a refresh returns: a new access token (and, on some surfaces, a new refresh token)."""

    access_token: str
    expires_in: int | None = None
    refresh_token: str | None = None


@dataclass(frozen=True)
class Call(Generic[T]):
    """One HTTP operation: where it goes, what it sends, and how its success is read."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: Any = None
    params: Mapping[str, Any] | None = None
    files: Any = None
    headers: Mapping[str, str] | None = None  # beyond the credentials (a refresh token as bearer)
    # statuses outside 2xx that are answers rather than errors (a readiness probe's 503)
    ok: frozenset[int] = frozenset()
    retry: bool = True
    # may refresh an expired access token once and try again (not for the login/refresh calls)
    refresh: bool = True


def parse_model(cls: type[M]) -> Callable[[httpx.Response], M]:
    def parse(response: httpx.Response) -> M:
        return cls.model_validate_json(response.content)

    return parse


def parse_list(cls: type[M]) -> Callable[[httpx.Response], list[M]]:
    adapter = TypeAdapter(list[cls])  # type: ignore[valid-type]

    def parse(response: httpx.Response) -> list[M]:
        return list(adapter.validate_json(response.content))

    return parse


def parse_object(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    if not isinstance(body, dict):
        raise ValueError(f"expected a JSON object, got {type(body).__name__}")
    return body


def parse_nothing(response: httpx.Response) -> None:
    return None


def parse_text(response: httpx.Response) -> str:
    return response.text


def compact(**values: Any) -> dict[str, Any]:
    """The keyword arguments that were given: None means 'let the server choose'."""
    return {key: value for key, value in values.items() if value is not None}


@dataclass(frozen=True)
class RetryPolicy:
    """Retries for 429 and 503 (and connection failures), honouring `Retry-After`.

    Without `Retry-After` the wait grows exponentially: `backoff_base * 2**attempt`, capped at
    `backoff_max`, with jitter in its upper half so clients that failed together do not retry together.
    A `Retry-After` longer than `max_retry_after` is not waited for: the error is raised at once.
    """

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 120.0
    statuses: frozenset[int] = frozenset({429, 503})

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_max, self.backoff_base * 2.0**attempt)
        return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not a secret

    def status_delay(self, status: int, retry_after: float | None, attempt: int) -> float | None:
        """Seconds to wait before retrying a response with this status; None: do not retry."""
        if attempt >= self.max_retries or status not in self.statuses:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_retry_after else None
        return self.backoff(attempt)

    def transport_delay(self, attempt: int, request_sent: bool, replay_safe: bool) -> float | None:
        """After a connection failure: always safe to retry if nothing was sent; otherwise only
        for idempotent methods and POSTs carrying an Idempotency-Key."""
        if attempt >= self.max_retries or (request_sent and not replay_safe):
            return None
        return self.backoff(attempt)


@dataclass
class Credentials:
    """How a client authenticates. A token (JWT from a login) wins over an API key.

    `api_key_header` is the header a document names for API keys (spec 003: `X-API-Key`); without one
    the key travels as `Authorization: Bearer`, as specs 000, 001, 002 and 004 show.
    """

    token: str | None = None
    api_key: str | None = None
    refresh_token: str | None = None
    api_key_header: str | None = None
    # the surface's refresh operation, when it has one: refresh token -> new access token
    refresher: Callable[[str], Call[TokenGrant]] | None = field(default=None, repr=False)

    def headers(self) -> dict[str, str]:
        if self.token:
            return {"Authorization": f"Bearer {self.token}"}
        if self.api_key:
            if self.api_key_header:
                return {self.api_key_header: self.api_key}
            return {"Authorization": f"Bearer {self.api_key}"}
        return {}

    @property
    def can_refresh(self) -> bool:
        return self.refresher is not None and self.refresh_token is not None

    def apply(self, grant: TokenGrant) -> None:
        self.token = grant.access_token
        if grant.refresh_token:
            self.refresh_token = grant.refresh_token

    def clear(self) -> None:
        self.token = None
        self.refresh_token = None


def ws_url(base_url: str, path: str) -> str:
    """`http(s)://host/prefix` + path as the matching `ws(s)://` URL."""
    base = base_url.rstrip("/")
    if base.startswith("https://"):
        base = "wss://" + base[len("https://") :]
    elif base.startswith("http://"):
        base = "ws://" + base[len("http://") :]
    return base + path
