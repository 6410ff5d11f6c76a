"""spec 001 (PiSovereign): `AssistantClient` / `AsyncAssistantClient` for chat (plain and streamed as
Server-Sent Events), commands and their parser, system status and models, and the health, readiness and
metrics probes. Authentication: `api_key="sk-..."` as `Authorization: Bearer`, as the document shows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cached_property
from typing import Any

import httpx
from pydantic import Field

from pentad.sdk._core import Call, Model, compact, parse_model, parse_object, parse_text
from pentad.sdk._transport import AsyncClient, SyncClient
from pentad.sdk.errors import StreamError
from pentad.sdk.sse import AsyncEventStream, EventStream, ServerSentEvent

__all__ = [
    "AssistantClient",
    "AsyncAssistantClient",
    "AsyncChatStream",
    "ChatDelta",
    "ChatDone",
    "ChatResponse",
    "ChatStream",
    "CommandResult",
    "Health",
    "ModelInfo",
    "ModelList",
    "ParseResult",
    "Readiness",
    "ReadinessAll",
    "SystemStatus",
    "TokenCounts",
]


class TokenCounts(Model):
    prompt: int
    completion: int
    total: int


class ChatMetadata(Model):
    finish_reason: str | None = None
    trimmed_messages: int = 0


class ChatResponse(Model):
    id: str
    conversation_id: str
    role: str = "assistant"
    content: str
    model: str
    tokens: TokenCounts
    created_at: datetime
    metadata: ChatMetadata | None = None


class ChatDelta(Model):
    """`event: message`: one more piece of the answer."""

    delta: str


class ChatDone(Model):
    """`event: done`: the token counts, and Pentad's ids of the stored answer."""

    tokens: TokenCounts
    id: str | None = None
    conversation_id: str | None = None
    model: str | None = None
    finish_reason: str | None = None
    trimmed_messages: int = 0


ChatEvent = ChatDelta | ChatDone


class CommandResult(Model):
    command: str
    status: str
    result: dict[str, Any]
    executed_at: datetime


class ParseResult(Model):
    parsed: bool
    command: dict[str, Any] | None = None
    confidence: float
    requires_approval: bool


class SystemStatus(Model):
    version: str
    uptime_seconds: int
    environment: str
    resources: dict[str, float]
    statistics: dict[str, float]


class ModelInfo(Model):
    id: str
    name: str
    parameters: str
    context_length: int
    default: bool
    provider: str | None = None
    aliases: list[str] = Field(default_factory=list)


class ModelList(Model):
    models: list[ModelInfo]


class Health(Model):
    status: str


class Readiness(Model):
    """`/ready`: answered with 200 or 503; `ready` says which."""

    status: str
    inference: dict[str, Any] | None = None
    database: dict[str, Any] | None = None

    @property
    def ready(self) -> bool:
        return self.status == "ready"


class ReadinessAll(Model):
    status: str
    services: dict[str, dict[str, Any]]
    latency_percentiles: dict[str, float] = Field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return self.status == "ready"


# --- operations -----------------------------------------------------------------------------------


def _chat_body(
    message: str,
    conversation_id: str | None,
    system_prompt: str | None,
    model: str | None,
    temperature: float | None,
    max_tokens: int | None,
) -> dict[str, Any]:
    return compact(
        message=message,
        conversation_id=conversation_id,
        system_prompt=system_prompt,
        model=model,
        temperature=temperature,
        max_tokens=max_tokens,
    )


def _chat(body: dict[str, Any]) -> Call[ChatResponse]:
    return Call("POST", "/v1/chat", parse_model(ChatResponse), json=body)


def _chat_stream(body: dict[str, Any]) -> Call[None]:
    return Call("POST", "/v1/chat/stream", lambda _: None, json=body, headers={"Accept": "text/event-stream"})


def _execute(command: str, args: Mapping[str, Any] | None) -> Call[CommandResult]:
    return Call(
        "POST",
        "/v1/commands",
        parse_model(CommandResult),
        json={"command": command, "args": dict(args or {})},
    )


def _parse(text: str) -> Call[ParseResult]:
    return Call("POST", "/v1/commands/parse", parse_model(ParseResult), json={"input": text})


_STATUS = Call("GET", "/v1/system/status", parse_model(SystemStatus))
_MODELS = Call("GET", "/v1/system/models", parse_model(ModelList))
_HEALTH = Call("GET", "/health", parse_model(Health))
# readiness answers 503 while the model loads: that is an answer to read, not an error to retry
_READY = Call("GET", "/ready", parse_model(Readiness), ok=frozenset({503}), retry=False)
_READY_ALL = Call("GET", "/ready/all", parse_model(ReadinessAll), ok=frozenset({503}), retry=False)
_METRICS = Call("GET", "/metrics", parse_object)
_PROMETHEUS = Call("GET", "/metrics/prometheus", parse_text)


class _ChatEvents:
    """Turns the stream's events into `ChatDelta` / `ChatDone`, keeping the text and the final event."""

    def __init__(self) -> None:
        self.text = ""
        self.done: ChatDone | None = None

    def convert(self, event: ServerSentEvent) -> ChatEvent | None:
        if event.event == "message":
            delta = ChatDelta.model_validate_json(event.data)
            self.text += delta.delta
            return delta
        if event.event == "done":
            self.done = ChatDone.model_validate_json(event.data)
            return self.done
        if event.event == "error":
            error = event.json().get("error", {})
            raise StreamError(str(error.get("message") or "stream failed"), code=str(error.get("code") or ""))
        return None


class ChatStream(EventStream[ChatEvent]):
    """A streamed answer: iterate it for `ChatDelta`s and the closing `ChatDone`, or `collect()` it.
    `text` holds what has arrived so far; `done` the final event once it came."""

    def __init__(self, response: httpx.Response) -> None:
        self._state = _ChatEvents()
        super().__init__(response, self._state.convert)

    @property
    def text(self) -> str:
        return self._state.text

    @property
    def done(self) -> ChatDone | None:
        return self._state.done

    def collect(self) -> ChatDone:
        """Read to the end; the whole text is then in `text`."""
        for _ in self:
            pass
        if self.done is None:
            raise StreamError("the stream ended without its done event", code="incomplete_stream")
        return self.done


class AsyncChatStream(AsyncEventStream[ChatEvent]):
    """The async twin of `ChatStream`."""

    def __init__(self, response: httpx.Response) -> None:
        self._state = _ChatEvents()
        super().__init__(response, self._state.convert)

    @property
    def text(self) -> str:
        return self._state.text

    @property
    def done(self) -> ChatDone | None:
        return self._state.done

    async def collect(self) -> ChatDone:
        async for _ in self:
            pass
        if self.done is None:
            raise StreamError("the stream ended without its done event", code="incomplete_stream")
        return self.done


# --- clients --------------------------------------------------------------------------------------


class Commands:
    def __init__(self, client: AssistantClient) -> None:
        self._client = client

    def execute(
        self, command: str, args: Mapping[str, Any] | None = None, *, idempotency_key: str | None = None
    ) -> CommandResult:
        """`briefing`, `weather` (`location`), `calendar` (`days`), `emails` (`count`) or `help`."""
        return self._client._send(_execute(command, args), idempotency_key)

    def parse(self, input: str) -> ParseResult:
        return self._client._send(_parse(input))


class System:
    def __init__(self, client: AssistantClient) -> None:
        self._client = client

    def status(self) -> SystemStatus:
        return self._client._send(_STATUS)

    def models(self) -> ModelList:
        return self._client._send(_MODELS)


class AssistantClient(SyncClient):
    """spec 001, synchronous."""

    @cached_property
    def commands(self) -> Commands:
        return Commands(self)

    @cached_property
    def system(self) -> System:
        return System(self)

    def chat(
        self,
        message: str,
        *,
        conversation_id: str | None = None,
        system_prompt: str | None = None,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        idempotency_key: str | None = None,
    ) -> ChatResponse:
        body = _chat_body(message, conversation_id, system_prompt, model, temperature, max_tokens)
        return self._send(_chat(body), idempotency_key)

    def chat_stream(
        self,
        message: str,
        *,
        conversation_id: str | None = None,
        system_prompt: str | None = None,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> ChatStream:
        """Start a streamed answer (errors before the first piece raise here, typed); use the returned
        stream in a `with` block or iterate it to the end."""
        body = _chat_body(message, conversation_id, system_prompt, model, temperature, max_tokens)
        return ChatStream(self._transport.open_stream(_chat_stream(body)))

    def health(self) -> Health:
        return self._send(_HEALTH)

    def ready(self) -> Readiness:
        return self._send(_READY)

    def ready_all(self) -> ReadinessAll:
        return self._send(_READY_ALL)

    def metrics(self) -> dict[str, Any]:
        return self._send(_METRICS)

    def metrics_prometheus(self) -> str:
        return self._send(_PROMETHEUS)


class AsyncCommands:
    def __init__(self, client: AsyncAssistantClient) -> None:
        self._client = client

    async def execute(
        self, command: str, args: Mapping[str, Any] | None = None, *, idempotency_key: str | None = None
    ) -> CommandResult:
        return await self._client._send(_execute(command, args), idempotency_key)

    async def parse(self, input: str) -> ParseResult:
        return await self._client._send(_parse(input))


class AsyncSystem:
    def __init__(self, client: AsyncAssistantClient) -> None:
        self._client = client

    async def status(self) -> SystemStatus:
        return await self._client._send(_STATUS)

    async def models(self) -> ModelList:
        return await self._client._send(_MODELS)


class AsyncAssistantClient(AsyncClient):
    """spec 001, asynchronous."""

    @cached_property
    def commands(self) -> AsyncCommands:
        return AsyncCommands(self)

    @cached_property
    def system(self) -> AsyncSystem:
        return AsyncSystem(self)

    async def chat(
        self,
        message: str,
        *,
        conversation_id: str | None = None,
        system_prompt: str | None = None,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        idempotency_key: str | None = None,
    ) -> ChatResponse:
        body = _chat_body(message, conversation_id, system_prompt, model, temperature, max_tokens)
        return await self._send(_chat(body), idempotency_key)

    async def chat_stream(
        self,
        message: str,
        *,
        conversation_id: str | None = None,
        system_prompt: str | None = None,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> AsyncChatStream:
        """`stream = await client.chat_stream(...)`, then `async with stream:` / `async for`."""
        body = _chat_body(message, conversation_id, system_prompt, model, temperature, max_tokens)
        return AsyncChatStream(await self._transport.open_stream(_chat_stream(body)))

    async def health(self) -> Health:
        return await self._send(_HEALTH)

    async def ready(self) -> Readiness:
        return await self._send(_READY)

    async def ready_all(self) -> ReadinessAll:
        return await self._send(_READY_ALL)

    async def metrics(self) -> dict[str, Any]:
        return await self._send(_METRICS)

    async def metrics_prometheus(self) -> str:
        return await self._send(_PROMETHEUS)
