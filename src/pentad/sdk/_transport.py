"""Sending `Call`s over httpx, sync and async: base URL, credentials, timeouts, retries with backoff on
429/503 honouring `Retry-After`, `Idempotency-Key` on POSTs, one token refresh on 401 where the surface
has a refresh operation, and typed errors for every other answer outside 2xx. The client base classes
that every surface's client extends live here too."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, ClassVar, Self, TypeVar

import httpx

from pentad import __version__
from pentad.sdk._core import (
    IDEMPOTENT_METHODS,
    Call,
    Credentials,
    RetryPolicy,
    TokenGrant,
    ws_url,
)
from pentad.sdk.errors import (
    PentadConnectionError,
    PentadError,
    PentadTimeoutError,
    error_from_response,
)
from pentad.sdk.websocket import AsyncWebSocketStream, Convert, WebSocketStream, connect_async, connect_sync

T = TypeVar("T")

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 60.0  # the local model answers at about 10 tokens/s on small machines
USER_AGENT = f"pentad-sdk/{__version__}"


def _transport_error(error: httpx.TransportError) -> PentadError:
    if isinstance(error, httpx.TimeoutException):
        return PentadTimeoutError(f"timed out: {error}", code="timeout")
    return PentadConnectionError(f"connection failed: {error}", code="connection_error")


def _nothing_sent(error: httpx.TransportError) -> bool:
    return isinstance(error, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _in_progress(response: httpx.Response) -> bool:
    """Pentad's 409 for a repeated Idempotency-Key whose first request has not finished yet."""
    message = error_from_response(response).message
    return "Idempotency-Key" in message and "in progress" in message


def _succeeded(response: httpx.Response, call: Call[Any]) -> bool:
    return response.is_success or response.status_code in call.ok


class _Plan:
    """The I/O-free half of a transport: how a call becomes a request and when to retry it."""

    def __init__(self, credentials: Credentials, retry: RetryPolicy, auto_idempotency: bool) -> None:
        self.credentials = credentials
        self.retry = retry
        self.auto_idempotency = auto_idempotency

    def key_for(self, call: Call[Any], key: str | None) -> str | None:
        if call.method != "POST":
            return None
        if key is None and self.auto_idempotency:
            return uuid.uuid4().hex
        return key

    def request(
        self, client: httpx.Client | httpx.AsyncClient, call: Call[Any], key: str | None
    ) -> httpx.Request:
        headers = self.credentials.headers()
        if call.headers:
            headers.update(call.headers)
        if key is not None:
            headers["Idempotency-Key"] = key
        params = {name: value for name, value in (call.params or {}).items() if value is not None}
        return client.build_request(
            call.method,
            call.path,
            json=call.json,
            params=params or None,
            files=call.files,
            headers=headers,
        )

    def status_delay(
        self, call: Call[Any], key: str | None, response: httpx.Response, attempt: int
    ) -> float | None:
        if not call.retry:
            return None
        if key is not None and response.status_code == 409 and _in_progress(response):
            # the first request with this key is still running (docs/edge.md): wait for its answer
            return self.retry.backoff(attempt) if attempt < self.retry.max_retries else None
        if response.status_code not in self.retry.statuses:
            return None
        retry_after = error_from_response(response).retry_after
        return self.retry.status_delay(response.status_code, retry_after, attempt)

    def transport_delay(
        self, call: Call[Any], key: str | None, error: httpx.TransportError, attempt: int
    ) -> float | None:
        if not call.retry:
            return None
        replay_safe = call.method in IDEMPOTENT_METHODS or key is not None
        return self.retry.transport_delay(attempt, not _nothing_sent(error), replay_safe)

    def should_refresh(self, call: Call[Any], response: httpx.Response, refreshed: bool) -> bool:
        return response.status_code == 401 and call.refresh and not refreshed and self.credentials.can_refresh

    def refresh_call(self) -> Call[TokenGrant]:
        refresher, token = self.credentials.refresher, self.credentials.refresh_token
        if refresher is None or token is None:
            raise PentadError("no refresh token", code="no_refresh_token")
        return refresher(token)


class SyncTransport:
    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        auto_idempotency: bool = False,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.plan = _Plan(credentials, retry or RetryPolicy(), auto_idempotency)
        self._owns_client = http_client is None
        self.client = http_client or httpx.Client(base_url=self.base_url, timeout=timeout)
        self.client.headers.update({"User-Agent": USER_AGENT, **dict(headers or {})})
        self._refresh_lock = threading.Lock()

    @property
    def credentials(self) -> Credentials:
        return self.plan.credentials

    def send(self, call: Call[T], *, idempotency_key: str | None = None) -> T:
        response = self._execute(call, self.plan.key_for(call, idempotency_key), stream=False)
        return call.parse(response)

    def open_stream(self, call: Call[Any], *, idempotency_key: str | None = None) -> httpx.Response:
        """A successful response whose body is not read yet; the caller closes it."""
        return self._execute(call, self.plan.key_for(call, idempotency_key), stream=True)

    def _execute(self, call: Call[Any], key: str | None, *, stream: bool) -> httpx.Response:
        refreshed = False
        while True:
            sent_token = self.credentials.token
            response = self._attempts(call, key, stream)
            if _succeeded(response, call):
                return response
            response.read()
            response.close()
            if self.plan.should_refresh(call, response, refreshed):
                self._refresh(sent_token, error_from_response(response))
                refreshed = True
                continue
            raise error_from_response(response)

    def _attempts(self, call: Call[Any], key: str | None, stream: bool) -> httpx.Response:
        attempt = 0
        while True:
            request = self.plan.request(self.client, call, key)
            try:
                response = self.client.send(request, stream=stream)
            except httpx.TransportError as error:
                delay = self.plan.transport_delay(call, key, error, attempt)
                if delay is None:
                    raise _transport_error(error) from error
            else:
                if stream and not response.is_success:
                    response.read()
                delay = self.plan.status_delay(call, key, response, attempt)
                if delay is None:
                    return response
                response.close()
            time.sleep(delay)
            attempt += 1

    def _refresh(self, refused_token: str | None, original: PentadError) -> None:
        with self._refresh_lock:
            if self.credentials.token != refused_token:
                return  # another thread refreshed meanwhile: just try again with the new token
            try:
                self.credentials.apply(self.send(self.plan.refresh_call()))
            except PentadError as error:
                raise original from error

    def websocket(
        self,
        path: str,
        convert: Convert[T],
        *,
        params: Mapping[str, str] | None = None,
        open_timeout: float = 10,
    ) -> WebSocketStream[T]:
        url = ws_url(self.base_url, path) if path.startswith("/") else path
        if params:
            url += ("&" if "?" in url else "?") + str(httpx.QueryParams(params))
        headers = {"User-Agent": USER_AGENT, **self.credentials.headers()}
        return connect_sync(url, convert, headers=headers, open_timeout=open_timeout)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()


class AsyncTransport:
    def __init__(
        self,
        base_url: str,
        credentials: Credentials,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        auto_idempotency: bool = False,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.plan = _Plan(credentials, retry or RetryPolicy(), auto_idempotency)
        self._owns_client = http_client is None
        self.client = http_client or httpx.AsyncClient(base_url=self.base_url, timeout=timeout)
        self.client.headers.update({"User-Agent": USER_AGENT, **dict(headers or {})})
        self._refresh_lock = asyncio.Lock()

    @property
    def credentials(self) -> Credentials:
        return self.plan.credentials

    async def send(self, call: Call[T], *, idempotency_key: str | None = None) -> T:
        response = await self._execute(call, self.plan.key_for(call, idempotency_key), stream=False)
        return call.parse(response)

    async def open_stream(self, call: Call[Any], *, idempotency_key: str | None = None) -> httpx.Response:
        return await self._execute(call, self.plan.key_for(call, idempotency_key), stream=True)

    async def _execute(self, call: Call[Any], key: str | None, *, stream: bool) -> httpx.Response:
        refreshed = False
        while True:
            sent_token = self.credentials.token
            response = await self._attempts(call, key, stream)
            if _succeeded(response, call):
                return response
            await response.aread()
            await response.aclose()
            if self.plan.should_refresh(call, response, refreshed):
                await self._refresh(sent_token, error_from_response(response))
                refreshed = True
                continue
            raise error_from_response(response)

    async def _attempts(self, call: Call[Any], key: str | None, stream: bool) -> httpx.Response:
        attempt = 0
        while True:
            request = self.plan.request(self.client, call, key)
            try:
                response = await self.client.send(request, stream=stream)
            except httpx.TransportError as error:
                delay = self.plan.transport_delay(call, key, error, attempt)
                if delay is None:
                    raise _transport_error(error) from error
            else:
                if stream and not response.is_success:
                    await response.aread()
                delay = self.plan.status_delay(call, key, response, attempt)
                if delay is None:
                    return response
                await response.aclose()
            await asyncio.sleep(delay)
            attempt += 1

    async def _refresh(self, refused_token: str | None, original: PentadError) -> None:
        async with self._refresh_lock:
            if self.credentials.token != refused_token:
                return
            try:
                self.credentials.apply(await self.send(self.plan.refresh_call()))
            except PentadError as error:
                raise original from error

    async def websocket(
        self,
        path: str,
        convert: Convert[T],
        *,
        params: Mapping[str, str] | None = None,
        open_timeout: float = 10,
    ) -> AsyncWebSocketStream[T]:
        url = ws_url(self.base_url, path) if path.startswith("/") else path
        if params:
            url += ("&" if "?" in url else "?") + str(httpx.QueryParams(params))
        headers = {"User-Agent": USER_AGENT, **self.credentials.headers()}
        return await connect_async(url, convert, headers=headers, open_timeout=open_timeout)

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()


def _policy(max_retries: int, retry: RetryPolicy | None) -> RetryPolicy:
    return retry if retry is not None else RetryPolicy(max_retries=max_retries)


class SyncClient:
    """Base of the sync clients: the constructor every surface shares, `close()` and `with` support.

    `token` is a JWT (from a login, or one you hold); `api_key` an `sk-...` key. `max_retries` (or a full
    `retry` policy) governs retries on 429/503 and connection failures; `auto_idempotency` sends a fresh
    `Idempotency-Key` with every POST that has none, so a retried POST is replayed, not repeated.
    """

    _api_key_header: ClassVar[str | None] = None

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        token: str | None = None,
        api_key: str | None = None,
        refresh_token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        auto_idempotency: bool = False,
        http_client: httpx.Client | None = None,
    ) -> None:
        credentials = Credentials(
            token=token,
            api_key=api_key,
            refresh_token=refresh_token,
            api_key_header=self._api_key_header,
            refresher=self._refresher(),
        )
        self._transport = SyncTransport(
            base_url,
            credentials,
            timeout=timeout,
            retry=_policy(max_retries, retry),
            headers=headers,
            auto_idempotency=auto_idempotency,
            http_client=http_client,
        )

    @classmethod
    def _refresher(cls) -> Callable[[str], Call[TokenGrant]] | None:
        return None

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def token(self) -> str | None:
        """The access token in use (set by `login()`, replaced by each refresh)."""
        return self._transport.credentials.token

    @property
    def refresh_token(self) -> str | None:
        return self._transport.credentials.refresh_token

    def _send(self, call: Call[T], idempotency_key: str | None = None) -> T:
        return self._transport.send(call, idempotency_key=idempotency_key)

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class AsyncClient:
    """Base of the async clients (see `SyncClient`); close with `await client.aclose()` or `async with`."""

    _api_key_header: ClassVar[str | None] = None

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        token: str | None = None,
        api_key: str | None = None,
        refresh_token: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = 3,
        retry: RetryPolicy | None = None,
        headers: Mapping[str, str] | None = None,
        auto_idempotency: bool = False,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        credentials = Credentials(
            token=token,
            api_key=api_key,
            refresh_token=refresh_token,
            api_key_header=self._api_key_header,
            refresher=self._refresher(),
        )
        self._transport = AsyncTransport(
            base_url,
            credentials,
            timeout=timeout,
            retry=_policy(max_retries, retry),
            headers=headers,
            auto_idempotency=auto_idempotency,
            http_client=http_client,
        )

    @classmethod
    def _refresher(cls) -> Callable[[str], Call[TokenGrant]] | None:
        return None

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def token(self) -> str | None:
        return self._transport.credentials.token

    @property
    def refresh_token(self) -> str | None:
        return self._transport.credentials.refresh_token

    async def _send(self, call: Call[T], idempotency_key: str | None = None) -> T:
        return await self._transport.send(call, idempotency_key=idempotency_key)

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()
