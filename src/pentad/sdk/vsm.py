"""spec 000 (VSM Phoenix): `VSMClient` / `AsyncVSMClient` for auth, GoldRush, LLM, WebSocket
subscriptions, VSM status, algedonic signals, S1 agents and webhooks; `LLMClient` / `AsyncLLMClient`
for the document's `LLMClient` example (`client.chat.create`, `client.embeddings.create`).

Authentication: `api_key=` (sent as `Authorization: Bearer`), `token=`, or `login(email, password)`,
after which an expired access token is refreshed once, transparently, with the refresh token.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

from pydantic import Field

from pentad.sdk._core import (
    Call,
    Model,
    TokenGrant,
    compact,
    parse_list,
    parse_model,
    parse_nothing,
)
from pentad.sdk._transport import AsyncClient, SyncClient
from pentad.sdk.errors import PentadError
from pentad.sdk.websocket import AsyncWebSocketStream, WebSocketStream

__all__ = [
    "AccessToken",
    "Agent",
    "AgentCommandResult",
    "AsyncLLMClient",
    "AsyncVSMClient",
    "Delivery",
    "Embeddings",
    "EventResult",
    "LLMClient",
    "LlmChat",
    "Login",
    "Pattern",
    "Permissions",
    "QueryResult",
    "Signal",
    "Subscription",
    "SystemStatus",
    "Usage",
    "VSMClient",
    "VsmEvent",
    "VsmUser",
    "Webhook",
]

SignalKind = Literal["pain", "pleasure"]


# --- response shapes ------------------------------------------------------------------------------


class VsmUser(Model):
    id: str
    email: str
    name: str
    roles: list[str]


class Login(Model):
    access_token: str
    refresh_token: str
    expires_in: int
    user: VsmUser


class AccessToken(Model):
    access_token: str
    expires_in: int


class Permissions(Model):
    permissions: list[str]
    roles: list[str]
    resource_access: dict[str, list[str]]


class Pattern(Model):
    id: str
    name: str
    pattern: str
    actions: list[str]
    created_at: datetime


class EventResult(Model):
    matched_patterns: list[str]
    actions_triggered: list[str]
    processing_time_ms: float
    event_id: int | None = None


class QueryResult(Model):
    type: str
    aggregation: str
    group_by: list[str]
    results: list[dict[str, Any]]
    execution_time_ms: float


class Usage(Model):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class LlmChat(Model):
    response: str
    model: str
    usage: Usage
    finish_reason: str | None = None
    trimmed_messages: int = 0


class Embeddings(Model):
    embeddings: list[list[float]]
    model: str
    dimensions: int
    usage: Usage


class Subscription(Model):
    subscription_id: str
    ws_url: str
    channels: list[str]


class VsmEvent(Model):
    """A message on `/socket/websocket`: `vsm.alert`, `system.metric`, `goldrush.match`, ... with its
    `payload`; replies to client messages (`subscribed`, `pong`, `error`) come as events too."""

    type: str
    payload: dict[str, Any] = Field(default_factory=dict)


class SystemStatus(Model):
    status: str
    systems: dict[str, dict[str, Any]]
    timestamp: datetime


class Signal(Model):
    signal_id: str
    type: str
    intensity: float
    propagation: list[str]
    actions_taken: list[str]
    timestamp: datetime


class Agent(Model):
    id: str
    name: str
    type: str
    status: str
    capabilities: list[str]
    created_at: datetime
    endpoint: str
    config: dict[str, Any] = Field(default_factory=dict)


class AgentCommandResult(Model):
    result: str
    output: dict[str, Any]
    execution_time_ms: int


class Webhook(Model):
    id: str
    url: str
    events: list[str]
    active: bool
    created_at: datetime


class Delivery(Model):
    id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime
    delivered_at: datetime | None = None


# --- operations (one description each, sent by either client) ----------------------------------


def _refresh(refresh_token: str) -> Call[TokenGrant]:
    return Call(
        "POST",
        "/api/auth/refresh",
        parse_model(TokenGrant),
        headers={"Authorization": f"Bearer {refresh_token}"},
        refresh=False,
    )


def _login(email: str, password: str) -> Call[Login]:
    return Call(
        "POST",
        "/api/auth/login",
        parse_model(Login),
        json={"email": email, "password": password},
        refresh=False,
    )


def _logout(refresh_token: str | None) -> Call[None]:
    return Call(
        "POST", "/api/auth/logout", parse_nothing, json=compact(refresh_token=refresh_token), refresh=False
    )


_PERMISSIONS = Call("GET", "/api/auth/permissions", parse_model(Permissions))
_STATUS = Call("GET", "/api/vsm/status", parse_model(SystemStatus))
_AGENTS = Call("GET", "/api/vsm/agents", parse_list(Agent))
_WEBHOOKS = Call("GET", "/api/webhooks", parse_list(Webhook))


def _list_patterns(page: int | None, per_page: int | None) -> Call[list[Pattern]]:
    return Call(
        "GET", "/api/goldrush/patterns", parse_list(Pattern), params=compact(page=page, per_page=per_page)
    )


def _create_pattern(name: str, pattern: str, actions: Sequence[str]) -> Call[Pattern]:
    body = {"name": name, "pattern": pattern, "actions": list(actions)}
    return Call("POST", "/api/goldrush/patterns", parse_model(Pattern), json=body)


def _pattern(pattern_id: str) -> str:
    return f"/api/goldrush/patterns/{pattern_id}"


def _submit_event(
    type: str, data: Mapping[str, Any] | None, metadata: Mapping[str, Any] | None
) -> Call[EventResult]:
    body = {"type": type, "data": dict(data or {}), "metadata": dict(metadata or {})}
    return Call("POST", "/api/goldrush/events", parse_model(EventResult), json=body)


def _query(
    query: Mapping[str, Any] | None,
    aggregation: str,
    field: str | None,
    filters: Mapping[str, Any] | None,
    group_by: Sequence[str] | None,
    limit: int | None,
) -> Call[QueryResult]:
    spec = (
        dict(query)
        if query is not None
        else compact(
            type="aggregate",
            aggregation=aggregation,
            field=field,
            filters=dict(filters) if filters else None,
            group_by=list(group_by) if group_by else None,
            limit=limit,
        )
    )
    return Call("POST", "/api/goldrush/query", parse_model(QueryResult), json={"query": spec})


def _chat(
    message: str,
    model: str | None,
    temperature: float | None,
    max_tokens: int | None,
    context: Sequence[Mapping[str, str]] | None,
) -> Call[LlmChat]:
    body = compact(
        message=message,
        model=model,
        temperature=temperature,
        max_tokens=max_tokens,
        context=[dict(item) for item in context] if context else None,
    )
    return Call("POST", "/api/llm/chat", parse_model(LlmChat), json=body)


def _embeddings(texts: Sequence[str], model: str | None) -> Call[Embeddings]:
    return Call(
        "POST", "/api/llm/embeddings", parse_model(Embeddings), json=compact(texts=list(texts), model=model)
    )


def _create_subscription(
    channels: Sequence[str], filters: Mapping[str, Sequence[Any]] | None
) -> Call[Subscription]:
    body: dict[str, Any] = {"channels": list(channels)}
    if filters:
        body["filters"] = {key: list(values) for key, values in filters.items()}
    return Call("POST", "/api/ws/subscribe", parse_model(Subscription), json=body)


def _signal(
    kind: SignalKind, source: str, intensity: float, message: str, metadata: Mapping[str, Any] | None
) -> Call[Signal]:
    body = {"source": source, "intensity": intensity, "message": message, "metadata": dict(metadata or {})}
    return Call("POST", f"/api/vsm/algedonic/{kind}", parse_model(Signal), json=body)


def _create_agent(
    name: str, type: str, capabilities: Sequence[str], config: Mapping[str, Any] | None
) -> Call[Agent]:
    body = {"name": name, "type": type, "capabilities": list(capabilities), "config": dict(config or {})}
    return Call("POST", "/api/vsm/agents", parse_model(Agent), json=body)


def _agent_command(
    agent_id: str, command: str, args: Sequence[str], timeout: int | None
) -> Call[AgentCommandResult]:
    body = compact(command=command, args=list(args), timeout=timeout)
    return Call("POST", f"/api/vsm/agents/{agent_id}/command", parse_model(AgentCommandResult), json=body)


def _create_webhook(url: str, events: Sequence[str], secret: str) -> Call[Webhook]:
    body = {"url": url, "events": list(events), "secret": secret}
    return Call("POST", "/api/webhooks", parse_model(Webhook), json=body)


def _event(message: dict[str, Any]) -> VsmEvent:
    return VsmEvent.model_validate(message)


def _is(kind: str, *others: str) -> Callable[[dict[str, Any]], bool]:
    kinds = {kind, *others}
    return lambda message: message.get("type") in kinds


def _refused(reply: dict[str, Any]) -> PentadError:
    return PentadError(
        str(reply.get("error") or "subscription refused"), code="subscription_refused", body=reply
    )


# --- sync client ----------------------------------------------------------------------------------


class _Part:
    def __init__(self, client: VSMClient | LLMClient) -> None:
        self._client = client


class Patterns(_Part):
    def list(self, *, page: int | None = None, per_page: int | None = None) -> list[Pattern]:
        return self._client._send(_list_patterns(page, per_page))

    def create(
        self, name: str, pattern: str, actions: Sequence[str] = (), *, idempotency_key: str | None = None
    ) -> Pattern:
        return self._client._send(_create_pattern(name, pattern, actions), idempotency_key)

    def get(self, pattern_id: str) -> Pattern:
        return self._client._send(Call("GET", _pattern(pattern_id), parse_model(Pattern)))

    def delete(self, pattern_id: str) -> None:
        self._client._send(Call("DELETE", _pattern(pattern_id), parse_nothing))


class Events(_Part):
    def submit(
        self,
        type: str,
        data: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> EventResult:
        return self._client._send(_submit_event(type, data, metadata), idempotency_key)


class GoldRush(_Part):
    def __init__(self, client: VSMClient) -> None:
        super().__init__(client)
        self.patterns = Patterns(client)
        self.events = Events(client)

    def query(
        self,
        query: Mapping[str, Any] | None = None,
        *,
        aggregation: str = "count",
        field: str | None = None,
        filters: Mapping[str, Any] | None = None,
        group_by: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> QueryResult:
        """An aggregate query: pass the document's `query` object, or its parts as keywords."""
        return self._client._send(_query(query, aggregation, field, filters, group_by, limit))


class Chat(_Part):
    def create(
        self,
        message: str,
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        context: Sequence[Mapping[str, str]] | None = None,
        idempotency_key: str | None = None,
    ) -> LlmChat:
        return self._client._send(_chat(message, model, temperature, max_tokens, context), idempotency_key)


class EmbeddingsApi(_Part):
    def create(self, texts: Sequence[str], *, model: str | None = None) -> Embeddings:
        return self._client._send(_embeddings(texts, model))


class Llm(_Part):
    def __init__(self, client: VSMClient | LLMClient) -> None:
        super().__init__(client)
        self.chat = Chat(client)
        self.embeddings = EmbeddingsApi(client)


class Agents(_Part):
    def create(
        self,
        name: str,
        type: str,
        capabilities: Sequence[str] = (),
        config: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Agent:
        return self._client._send(_create_agent(name, type, capabilities, config), idempotency_key)

    def list(self) -> list[Agent]:
        return self._client._send(_AGENTS)

    def get(self, agent_id: str) -> Agent:
        return self._client._send(Call("GET", f"/api/vsm/agents/{agent_id}", parse_model(Agent)))

    def command(
        self, agent_id: str, command: str, args: Sequence[str] = (), *, timeout: int | None = None
    ) -> AgentCommandResult:
        """Run one of the agent's capabilities; `timeout` in milliseconds, as the document has it."""
        return self._client._send(_agent_command(agent_id, command, args, timeout))


class Vsm(_Part):
    def __init__(self, client: VSMClient) -> None:
        super().__init__(client)
        self.agents = Agents(client)

    def status(self) -> SystemStatus:
        return self._client._send(_STATUS)

    def algedonic(
        self,
        kind: SignalKind,
        *,
        source: str,
        intensity: float,
        message: str,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Signal:
        return self._client._send(_signal(kind, source, intensity, message, metadata), idempotency_key)


class Webhooks(_Part):
    def create(
        self, url: str, events: Sequence[str], secret: str, *, idempotency_key: str | None = None
    ) -> Webhook:
        return self._client._send(_create_webhook(url, events, secret), idempotency_key)

    def list(self) -> list[Webhook]:
        return self._client._send(_WEBHOOKS)

    def get(self, webhook_id: str) -> Webhook:
        return self._client._send(Call("GET", f"/api/webhooks/{webhook_id}", parse_model(Webhook)))

    def delete(self, webhook_id: str) -> None:
        self._client._send(Call("DELETE", f"/api/webhooks/{webhook_id}", parse_nothing))

    def deliveries(self, webhook_id: str) -> builtins.list[Delivery]:
        return self._client._send(Call("GET", f"/api/webhooks/{webhook_id}/deliveries", parse_list(Delivery)))


class VSMClient(SyncClient):
    """spec 000, synchronous. Namespaces follow the document: `goldrush.patterns`, `goldrush.events`,
    `llm.chat`, `llm.embeddings`, `vsm` (status, algedonic, agents), `webhooks`; `subscribe()` opens
    the WebSocket."""

    @cached_property
    def goldrush(self) -> GoldRush:
        return GoldRush(self)

    @cached_property
    def llm(self) -> Llm:
        return Llm(self)

    @cached_property
    def vsm(self) -> Vsm:
        return Vsm(self)

    @cached_property
    def webhooks(self) -> Webhooks:
        return Webhooks(self)

    @classmethod
    def _refresher(cls) -> Callable[[str], Call[TokenGrant]]:
        return _refresh

    def login(self, email: str, password: str) -> Login:
        """Log in; the client then uses the access token and refreshes it when it expires."""
        result = self._send(_login(email, password))
        self._transport.credentials.apply(
            TokenGrant(access_token=result.access_token, refresh_token=result.refresh_token)
        )
        return result

    def refresh(self) -> AccessToken:
        token = self.refresh_token
        if token is None:
            raise PentadError("no refresh token: log in first", code="no_refresh_token")
        grant = self._send(_refresh(token))
        self._transport.credentials.apply(grant)
        return AccessToken(access_token=grant.access_token, expires_in=grant.expires_in or 0)

    def logout(self) -> None:
        """Revoke the access token and the refresh token; the client forgets both."""
        self._send(_logout(self.refresh_token))
        self._transport.credentials.clear()

    def permissions(self) -> Permissions:
        return self._send(_PERMISSIONS)

    def create_subscription(
        self, channels: Sequence[str], filters: Mapping[str, Sequence[Any]] | None = None
    ) -> Subscription:
        """`POST /api/ws/subscribe` only: the subscription and its one-time `ws_url`."""
        return self._send(_create_subscription(channels, filters))

    def connect(self, subscription: Subscription, *, timeout: float = 10.0) -> WebSocketStream[VsmEvent]:
        """Open the subscription's `ws_url` and authenticate as the document shows; returns once the
        server confirmed, so every event published afterwards is received."""
        stream = self._transport.websocket(subscription.ws_url, _event, open_timeout=timeout)
        try:
            stream.wait_for(_is("connected"), timeout)
            stream.send({"type": "authenticate", "subscription_id": subscription.subscription_id})
            reply = stream.wait_for(_is("authenticated", "error"), timeout)
            if reply.get("type") == "error":
                raise _refused(reply)
        except BaseException:
            stream.close()
            raise
        return stream

    def subscribe(
        self,
        channels: Sequence[str],
        filters: Mapping[str, Sequence[Any]] | None = None,
        *,
        timeout: float = 10.0,
    ) -> WebSocketStream[VsmEvent]:
        """Create a subscription and connect to it: use in a `with` block, iterate or `receive()`."""
        return self.connect(self.create_subscription(channels, filters), timeout=timeout)


class LLMClient(SyncClient):
    """The document's `LLMClient`: `client.chat.create(...)` and `client.embeddings.create(...)`."""

    @cached_property
    def chat(self) -> Chat:
        return Chat(self)

    @cached_property
    def embeddings(self) -> EmbeddingsApi:
        return EmbeddingsApi(self)


# --- async client ---------------------------------------------------------------------------------


class _AsyncPart:
    def __init__(self, client: AsyncVSMClient | AsyncLLMClient) -> None:
        self._client = client


class AsyncPatterns(_AsyncPart):
    async def list(self, *, page: int | None = None, per_page: int | None = None) -> list[Pattern]:
        return await self._client._send(_list_patterns(page, per_page))

    async def create(
        self, name: str, pattern: str, actions: Sequence[str] = (), *, idempotency_key: str | None = None
    ) -> Pattern:
        return await self._client._send(_create_pattern(name, pattern, actions), idempotency_key)

    async def get(self, pattern_id: str) -> Pattern:
        return await self._client._send(Call("GET", _pattern(pattern_id), parse_model(Pattern)))

    async def delete(self, pattern_id: str) -> None:
        await self._client._send(Call("DELETE", _pattern(pattern_id), parse_nothing))


class AsyncEvents(_AsyncPart):
    async def submit(
        self,
        type: str,
        data: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> EventResult:
        return await self._client._send(_submit_event(type, data, metadata), idempotency_key)


class AsyncGoldRush(_AsyncPart):
    def __init__(self, client: AsyncVSMClient) -> None:
        super().__init__(client)
        self.patterns = AsyncPatterns(client)
        self.events = AsyncEvents(client)

    async def query(
        self,
        query: Mapping[str, Any] | None = None,
        *,
        aggregation: str = "count",
        field: str | None = None,
        filters: Mapping[str, Any] | None = None,
        group_by: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> QueryResult:
        return await self._client._send(_query(query, aggregation, field, filters, group_by, limit))


class AsyncChat(_AsyncPart):
    async def create(
        self,
        message: str,
        *,
        model: str | None = None,
        temperature: float | None = None,
        max_tokens: int | None = None,
        context: Sequence[Mapping[str, str]] | None = None,
        idempotency_key: str | None = None,
    ) -> LlmChat:
        return await self._client._send(
            _chat(message, model, temperature, max_tokens, context), idempotency_key
        )


class AsyncEmbeddingsApi(_AsyncPart):
    async def create(self, texts: Sequence[str], *, model: str | None = None) -> Embeddings:
        return await self._client._send(_embeddings(texts, model))


class AsyncLlm(_AsyncPart):
    def __init__(self, client: AsyncVSMClient | AsyncLLMClient) -> None:
        super().__init__(client)
        self.chat = AsyncChat(client)
        self.embeddings = AsyncEmbeddingsApi(client)


class AsyncAgents(_AsyncPart):
    async def create(
        self,
        name: str,
        type: str,
        capabilities: Sequence[str] = (),
        config: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Agent:
        return await self._client._send(_create_agent(name, type, capabilities, config), idempotency_key)

    async def list(self) -> list[Agent]:
        return await self._client._send(_AGENTS)

    async def get(self, agent_id: str) -> Agent:
        return await self._client._send(Call("GET", f"/api/vsm/agents/{agent_id}", parse_model(Agent)))

    async def command(
        self, agent_id: str, command: str, args: Sequence[str] = (), *, timeout: int | None = None
    ) -> AgentCommandResult:
        return await self._client._send(_agent_command(agent_id, command, args, timeout))


class AsyncVsm(_AsyncPart):
    def __init__(self, client: AsyncVSMClient) -> None:
        super().__init__(client)
        self.agents = AsyncAgents(client)

    async def status(self) -> SystemStatus:
        return await self._client._send(_STATUS)

    async def algedonic(
        self,
        kind: SignalKind,
        *,
        source: str,
        intensity: float,
        message: str,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Signal:
        return await self._client._send(_signal(kind, source, intensity, message, metadata), idempotency_key)


class AsyncWebhooks(_AsyncPart):
    async def create(
        self, url: str, events: Sequence[str], secret: str, *, idempotency_key: str | None = None
    ) -> Webhook:
        return await self._client._send(_create_webhook(url, events, secret), idempotency_key)

    async def list(self) -> list[Webhook]:
        return await self._client._send(_WEBHOOKS)

    async def get(self, webhook_id: str) -> Webhook:
        return await self._client._send(Call("GET", f"/api/webhooks/{webhook_id}", parse_model(Webhook)))

    async def delete(self, webhook_id: str) -> None:
        await self._client._send(Call("DELETE", f"/api/webhooks/{webhook_id}", parse_nothing))

    async def deliveries(self, webhook_id: str) -> builtins.list[Delivery]:
        return await self._client._send(
            Call("GET", f"/api/webhooks/{webhook_id}/deliveries", parse_list(Delivery))
        )


class AsyncVSMClient(AsyncClient):
    """spec 000, asynchronous: the same namespaces as `VSMClient`, every call awaited."""

    @cached_property
    def goldrush(self) -> AsyncGoldRush:
        return AsyncGoldRush(self)

    @cached_property
    def llm(self) -> AsyncLlm:
        return AsyncLlm(self)

    @cached_property
    def vsm(self) -> AsyncVsm:
        return AsyncVsm(self)

    @cached_property
    def webhooks(self) -> AsyncWebhooks:
        return AsyncWebhooks(self)

    @classmethod
    def _refresher(cls) -> Callable[[str], Call[TokenGrant]]:
        return _refresh

    async def login(self, email: str, password: str) -> Login:
        result = await self._send(_login(email, password))
        self._transport.credentials.apply(
            TokenGrant(access_token=result.access_token, refresh_token=result.refresh_token)
        )
        return result

    async def refresh(self) -> AccessToken:
        token = self.refresh_token
        if token is None:
            raise PentadError("no refresh token: log in first", code="no_refresh_token")
        grant = await self._send(_refresh(token))
        self._transport.credentials.apply(grant)
        return AccessToken(access_token=grant.access_token, expires_in=grant.expires_in or 0)

    async def logout(self) -> None:
        await self._send(_logout(self.refresh_token))
        self._transport.credentials.clear()

    async def permissions(self) -> Permissions:
        return await self._send(_PERMISSIONS)

    async def create_subscription(
        self, channels: Sequence[str], filters: Mapping[str, Sequence[Any]] | None = None
    ) -> Subscription:
        return await self._send(_create_subscription(channels, filters))

    async def connect(
        self, subscription: Subscription, *, timeout: float = 10.0
    ) -> AsyncWebSocketStream[VsmEvent]:
        stream = await self._transport.websocket(subscription.ws_url, _event, open_timeout=timeout)
        try:
            await stream.wait_for(_is("connected"), timeout)
            await stream.send({"type": "authenticate", "subscription_id": subscription.subscription_id})
            reply = await stream.wait_for(_is("authenticated", "error"), timeout)
            if reply.get("type") == "error":
                raise _refused(reply)
        except BaseException:
            await stream.aclose()
            raise
        return stream

    async def subscribe(
        self,
        channels: Sequence[str],
        filters: Mapping[str, Sequence[Any]] | None = None,
        *,
        timeout: float = 10.0,
    ) -> AsyncWebSocketStream[VsmEvent]:
        """Create a subscription and connect: `async with await client.subscribe([...]) as events:`."""
        return await self.connect(await self.create_subscription(channels, filters), timeout=timeout)


class AsyncLLMClient(AsyncClient):
    """The document's `LLMClient`, asynchronous."""

    @cached_property
    def chat(self) -> AsyncChat:
        return AsyncChat(self)

    @cached_property
    def embeddings(self) -> AsyncEmbeddingsApi:
        return AsyncEmbeddingsApi(self)
