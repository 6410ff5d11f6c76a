"""Server-Sent Events: a parser for the `text/event-stream` format (HTML Living Standard §9.2.6) over
httpx's line iterators, and stream objects that own the response and close it when done."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import httpx

T = TypeVar("T")

__all__ = ["AsyncEventStream", "EventStream", "SSEDecoder", "ServerSentEvent"]


@dataclass(frozen=True)
class ServerSentEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None

    def json(self) -> Any:
        return json.loads(self.data)


class SSEDecoder:
    """Feed lines (without their line endings); complete events come out at each blank line."""

    def __init__(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None
        self._seen_field = False

    def decode(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):  # a comment: sse-starlette's keep-alive pings
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry":
            if value.isdigit():
                self._retry = int(value)
        else:
            return None  # unknown fields are ignored
        self._seen_field = True
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._seen_field:
            return None
        event = ServerSentEvent(
            event=self._event or "message", data="\n".join(self._data), id=self._id, retry=self._retry
        )
        self._event, self._data, self._retry, self._seen_field = "", [], None, False
        return event  # the last event id persists across events, as the standard says


def iter_sse(lines: Iterable[str]) -> Generator[ServerSentEvent, None, None]:
    decoder = SSEDecoder()
    for line in lines:
        event = decoder.decode(line.rstrip("\r\n"))
        if event is not None:
            yield event
    final = decoder.decode("")
    if final is not None:
        yield final


async def aiter_sse(lines: AsyncIterator[str]) -> AsyncGenerator[ServerSentEvent, None]:
    decoder = SSEDecoder()
    async for line in lines:
        event = decoder.decode(line.rstrip("\r\n"))
        if event is not None:
            yield event
    final = decoder.decode("")
    if final is not None:
        yield final


class EventStream(Generic[T]):
    """An open SSE response, iterated as typed items (`convert` returns None to skip an event).

    Use it in a `with` block, or iterate it to the end: either way the connection is released."""

    def __init__(self, response: httpx.Response, convert: Callable[[ServerSentEvent], T | None]) -> None:
        self.response = response
        self._convert = convert
        self._events = iter_sse(response.iter_lines())

    def __iter__(self) -> Iterator[T]:
        try:
            for event in self._events:
                item = self._convert(event)
                if item is not None:
                    yield item
        finally:
            self.close()

    def close(self) -> None:
        self._events.close()
        self.response.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()


class AsyncEventStream(Generic[T]):
    """The async twin of `EventStream`: `async with` it, or `async for` it to the end."""

    def __init__(self, response: httpx.Response, convert: Callable[[ServerSentEvent], T | None]) -> None:
        self.response = response
        self._convert = convert
        self._events = aiter_sse(response.aiter_lines())

    async def __aiter__(self) -> AsyncIterator[T]:
        try:
            async for event in self._events:
                item = self._convert(event)
                if item is not None:
                    yield item
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        await self._events.aclose()
        await self.response.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()
