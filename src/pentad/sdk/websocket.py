"""WebSocket helpers over the `websockets` library: a connection read as typed JSON messages, sync
(`WebSocketStream`) and async (`AsyncWebSocketStream`).

Both skip the server's `heartbeat` messages, end iteration on a normal close (1000, 1001) and raise
`WebSocketClosedError` on any other close (1008: bad token or no access; 1013: the client read too
slowly). `receive(timeout=...)` raises the builtin `TimeoutError` when nothing arrives in time.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import httpx
from websockets.asyncio.client import ClientConnection as AsyncConnection
from websockets.asyncio.client import connect as async_connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.sync.client import ClientConnection as SyncConnection
from websockets.sync.client import connect as sync_connect

from pentad.sdk.errors import PentadConnectionError, PentadError, WebSocketClosedError, error_from_response

T = TypeVar("T")
Convert = Callable[[dict[str, Any]], T | None]
Predicate = Callable[[dict[str, Any]], bool]

__all__ = ["AsyncWebSocketStream", "WebSocketStream", "connect_async", "connect_sync"]

NORMAL_CLOSES = frozenset({1000, 1001})


def _is_heartbeat(message: dict[str, Any]) -> bool:
    return message.get("type") == "heartbeat"


def _decode(raw: str | bytes) -> dict[str, Any]:
    message = json.loads(raw)
    return message if isinstance(message, dict) else {"type": "message", "payload": message}


def _closed(error: ConnectionClosed) -> WebSocketClosedError | None:
    """None for a normal close (the stream simply ends), else the error to raise."""
    frame = error.rcvd
    if frame is not None and frame.code in NORMAL_CLOSES:
        return None
    return WebSocketClosedError(frame.code if frame else None, frame.reason if frame else "connection lost")


def _ended(connection: SyncConnection | AsyncConnection) -> WebSocketClosedError:
    """What `receive()` raises once the server has closed normally: there is nothing more to read."""
    return WebSocketClosedError(connection.close_code or 1000, connection.close_reason or "")


def _handshake_error(error: Exception, url: str) -> PentadError:
    if isinstance(error, InvalidStatus):
        refused = error.response
        response = httpx.Response(
            refused.status_code, headers=list(refused.headers.raw_items()), content=bytes(refused.body or b"")
        )
        return error_from_response(response)
    return PentadConnectionError(f"WebSocket connection to {url.split('?')[0]} failed: {error}")


def connect_sync(
    url: str, convert: Convert[T], *, headers: Mapping[str, str] | None = None, open_timeout: float = 10.0
) -> WebSocketStream[T]:
    try:
        # legacy=True: a plain connection, which WebSocketStream owns and closes (websockets >= 17.1)
        connection = sync_connect(
            url, additional_headers=dict(headers or {}), open_timeout=open_timeout, legacy=True
        )
    except (InvalidHandshake, InvalidURI, OSError, TimeoutError) as error:
        raise _handshake_error(error, url) from error
    return WebSocketStream(connection, convert)


async def connect_async(
    url: str, convert: Convert[T], *, headers: Mapping[str, str] | None = None, open_timeout: float = 10.0
) -> AsyncWebSocketStream[T]:
    try:
        connection = await async_connect(
            url, additional_headers=dict(headers or {}), open_timeout=open_timeout
        )
    except (InvalidHandshake, InvalidURI, OSError, TimeoutError) as error:
        raise _handshake_error(error, url) from error
    return AsyncWebSocketStream(connection, convert)


class WebSocketStream(Generic[T]):
    """A WebSocket whose messages are JSON objects, read as `T` (see the module docstring)."""

    def __init__(self, connection: SyncConnection, convert: Convert[T]) -> None:
        self.connection = connection
        self._convert = convert
        self._buffer: deque[dict[str, Any]] = deque()

    def _next_raw(self, timeout: float | None) -> dict[str, Any] | None:
        """The next non-heartbeat message; None once the server closed normally."""
        if self._buffer:
            return self._buffer.popleft()
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                message = _decode(self.connection.recv(timeout=remaining))
            except ConnectionClosed as closed:
                error = _closed(closed)
                if error is None:
                    return None
                raise error from closed
            if not _is_heartbeat(message):
                return message

    def receive(self, timeout: float | None = None) -> T:
        """The next message; `TimeoutError` after `timeout` seconds, `WebSocketClosedError` once closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            raw = self._next_raw(remaining)
            if raw is None:
                raise WebSocketClosedError(
                    self.connection.close_code or 1000, self.connection.close_reason or ""
                )
            item = self._convert(raw)
            if item is not None:
                return item

    def wait_for(self, predicate: Predicate, timeout: float | None = 10.0) -> dict[str, Any]:
        """Read until a raw message satisfies `predicate` and return it; messages read on the way stay
        queued for `receive` and iteration."""
        deadline = None if timeout is None else time.monotonic() + timeout
        skipped: list[dict[str, Any]] = []
        try:
            while True:
                remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
                if remaining == 0.0:
                    raise TimeoutError("no matching WebSocket message in time")
                try:
                    message = _decode(self.connection.recv(timeout=remaining))
                except ConnectionClosed as closed:
                    error = _closed(closed) or WebSocketClosedError(
                        1000, "closed before the expected message"
                    )
                    raise error from closed
                if _is_heartbeat(message):
                    continue
                if predicate(message):
                    return message
                skipped.append(message)
        finally:
            self._buffer.extend(skipped)

    def send(self, message: Mapping[str, Any]) -> None:
        self.connection.send(json.dumps(dict(message)))

    def __iter__(self) -> Iterator[T]:
        while True:
            raw = self._next_raw(None)
            if raw is None:
                return
            item = self._convert(raw)
            if item is not None:
                yield item

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class AsyncWebSocketStream(Generic[T]):
    """The async twin of `WebSocketStream`."""

    def __init__(self, connection: AsyncConnection, convert: Convert[T]) -> None:
        self.connection = connection
        self._convert = convert
        self._buffer: deque[dict[str, Any]] = deque()

    async def _recv(self) -> dict[str, Any] | None:
        try:
            return _decode(await self.connection.recv())
        except ConnectionClosed as closed:
            error = _closed(closed)
            if error is None:
                return None
            raise error from closed

    async def _next_raw(self) -> dict[str, Any] | None:
        if self._buffer:
            return self._buffer.popleft()
        while True:
            message = await self._recv()
            if message is None or not _is_heartbeat(message):
                return message

    async def _next_item(self) -> T | None:
        while True:
            raw = await self._next_raw()
            if raw is None:
                return None
            item = self._convert(raw)
            if item is not None:
                return item

    async def receive(self, timeout: float | None = None) -> T:
        """The next message; `TimeoutError` after `timeout` seconds, `WebSocketClosedError` once closed."""
        async with asyncio.timeout(timeout):
            item = await self._next_item()
        if item is None:
            raise _ended(self.connection)
        return item

    async def wait_for(self, predicate: Predicate, timeout: float | None = 10.0) -> dict[str, Any]:
        """Read until a raw message satisfies `predicate`; the others stay queued (see the sync twin)."""
        skipped: list[dict[str, Any]] = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    message = await self._recv()
                    if message is None:
                        raise WebSocketClosedError(1000, "closed before the expected message")
                    if _is_heartbeat(message):
                        continue
                    if predicate(message):
                        return message
                    skipped.append(message)
        finally:
            self._buffer.extend(skipped)

    async def send(self, message: Mapping[str, Any]) -> None:
        await self.connection.send(json.dumps(dict(message)))

    async def __aiter__(self) -> AsyncIterator[T]:
        while True:
            item = await self._next_item()
            if item is None:
                return
            yield item

    async def aclose(self) -> None:
        await self.connection.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()
