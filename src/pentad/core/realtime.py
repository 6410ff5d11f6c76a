"""Helpers for relaying the bus to clients: WebSocket authentication from a query token, the send loop
with heartbeats and close reasons, and Server-Sent Event responses."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from pentad.core.bus import Message, Subscription
from pentad.core.context import CoreServices
from pentad.core.db import isoformat_z, utcnow
from pentad.core.errors import ApiError
from pentad.core.identity.dependencies import authenticate_token
from pentad.core.identity.principal import Principal

POLICY_VIOLATION = 1008  # RFC 6455: bad token, no access
TRY_AGAIN_LATER = 1013  # dropped as a slow consumer
HEARTBEAT_SECONDS = 25.0


async def websocket_principal(websocket: WebSocket, core: CoreServices) -> Principal | None:
    """Authenticate from `?token=` (or an `Authorization`/`X-API-Key` header); close 1008 on failure."""
    token = websocket.query_params.get("token")
    if not token:
        header = websocket.headers.get("authorization", "")
        token = (
            header[7:].strip() if header.lower().startswith("bearer ") else websocket.headers.get("x-api-key")
        )
    try:
        return await authenticate_token(core, token)
    except ApiError as exc:
        await websocket.close(code=POLICY_VIOLATION, reason=exc.message[:120])
        return None


async def send_json(websocket: WebSocket, body: dict[str, Any]) -> bool:
    if websocket.application_state != WebSocketState.CONNECTED:
        return False
    try:
        await websocket.send_text(json.dumps(body, default=str, separators=(",", ":")))
        return True
    except (WebSocketDisconnect, RuntimeError):
        return False


async def relay(
    websocket: WebSocket,
    subscription: Subscription,
    render: Callable[[Message], dict[str, Any] | None],
    *,
    on_client_message: Callable[[dict[str, Any]], Awaitable[dict[str, Any] | None]] | None = None,
    stop_after: Callable[[Message], bool] | None = None,
) -> None:
    """Forward bus messages to the socket until the client leaves, the subscription is dropped, or
    `stop_after` says the stream is over. Client messages go to `on_client_message`; idle sockets get a
    heartbeat so proxies keep them open."""

    async def reader() -> None:
        while True:
            try:
                raw = await websocket.receive_text()
            except (WebSocketDisconnect, RuntimeError):
                return
            if on_client_message is None:
                continue
            try:
                incoming = json.loads(raw)
                if not isinstance(incoming, dict):
                    raise ValueError("not an object")
            except ValueError:
                await send_json(websocket, {"type": "error", "error": "messages must be JSON objects"})
                continue
            reply = await on_client_message(incoming)
            if reply is not None:
                await send_json(websocket, reply)

    reader_task = asyncio.create_task(reader())
    try:
        while not reader_task.done():
            getter = asyncio.create_task(subscription.get(timeout=HEARTBEAT_SECONDS))
            done, _ = await asyncio.wait({getter, reader_task}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            message = getter.result()
            if message is None:
                if subscription.closed_reason is not None:
                    with contextlib.suppress(RuntimeError):
                        await websocket.close(code=TRY_AGAIN_LATER, reason=subscription.closed_reason[:120])
                    return
                if not await send_json(websocket, {"type": "heartbeat", "timestamp": isoformat_z(utcnow())}):
                    break
                continue
            body = render(message)
            if body is not None and not await send_json(websocket, body):
                break
            if stop_after is not None and stop_after(message):
                with contextlib.suppress(RuntimeError):
                    await websocket.close(code=1000)
                break
    finally:
        reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader_task


def sse_response(events: AsyncIterator[tuple[str, dict[str, Any]]]) -> EventSourceResponse:
    """An SSE response from `(event name, data)` pairs; data is sent as compact JSON."""

    async def encode() -> AsyncIterator[ServerSentEvent]:
        async for name, data in events:
            yield ServerSentEvent(data=json.dumps(data, default=str, separators=(",", ":")), event=name)

    return EventSourceResponse(encode(), ping=15)
