"""spec 000 §4: `POST /api/ws/subscribe` and the WebSocket at `/socket/websocket?token=`.

The HTTP call stores the subscription (channels and filters) and returns a `ws_url` carrying a one-time
ticket valid for five minutes. The socket accepts that ticket or a normal access token / API key; the
client then sends `{"type": "authenticate", "subscription_id": ...}` and may `subscribe` /
`unsubscribe` to more channels. Messages are delivered as `{"type": "vsm.alert", "payload": {...}}`.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import defaultdict
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Request, WebSocket
from pydantic import BaseModel, Field, field_validator

from pentad.core import channels
from pentad.core.bus import Message, Subscription
from pentad.core.context import CoreServices
from pentad.core.db import utcnow
from pentad.core.errors import ApiError, Unauthorized
from pentad.core.identity.dependencies import Core, DbSession, RequirePermission
from pentad.core.identity.principal import Principal
from pentad.core.realtime import POLICY_VIOLATION, relay, send_json
from pentad.surfaces.vsm.models import WsSubscription

router = APIRouter(tags=["VSM: WebSocket subscriptions"])

CHANNELS = (channels.VSM_ALERTS, channels.SYSTEM_METRICS, channels.AGENT_EVENTS, channels.GOLDRUSH_MATCHES)
TICKET_TTL = timedelta(minutes=5)
MAX_CONNECTIONS_PER_CALLER = 10  # spec 000: 10 concurrent WebSocket connections per API key
_open_connections: defaultdict[str, int] = defaultdict(int)

VsmReader = Annotated[Principal, RequirePermission("vsm.read")]


class SubscribeRequest(BaseModel):
    channels: list[str] = Field(min_length=1, max_length=len(CHANNELS))
    filters: dict[str, list[str | int | float | bool]] = Field(default_factory=dict)

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, value: list[str]) -> list[str]:
        unknown = [name for name in value if name not in CHANNELS]
        if unknown:
            raise ValueError(f"unknown channels {unknown}; known: {list(CHANNELS)}")
        return list(dict.fromkeys(value))

    @field_validator("filters")
    @classmethod
    def _bounded_filters(cls, value: dict[str, list[Any]]) -> dict[str, list[Any]]:
        if len(value) > 10 or any(len(values) > 50 for values in value.values()):
            raise ValueError("at most 10 filters of 50 values each")
        return value


class SubscribeResponse(BaseModel):
    subscription_id: str
    ws_url: str
    channels: list[str]


def _hash(ticket: str) -> str:
    return hashlib.sha256(ticket.encode()).hexdigest()


def _ws_base(core: CoreServices, request: Request) -> str:
    base = core.settings.server.public_url or str(request.base_url)
    return base.rstrip("/").replace("https://", "wss://", 1).replace("http://", "ws://", 1)


@router.post("/api/ws/subscribe", response_model=SubscribeResponse, summary="Create subscription")
async def subscribe(
    body: SubscribeRequest, request: Request, principal: VsmReader, core: Core, session: DbSession
) -> SubscribeResponse:
    ticket = "wst_" + secrets.token_urlsafe(24)
    record = WsSubscription(
        id="sub_" + secrets.token_hex(8),
        user_id=principal.user_id,
        channels=body.channels,
        filters=body.filters,
        ticket_hash=_hash(ticket),
        ticket_expires_at=utcnow() + TICKET_TTL,
    )
    session.add(record)
    await session.flush()
    return SubscribeResponse(
        subscription_id=record.id,
        ws_url=f"{_ws_base(core, request)}/socket/websocket?token={ticket}",
        channels=body.channels,
    )


def render(message: Message) -> dict[str, Any]:
    return {"type": message.type, "payload": message.payload}


async def _resolve(core: CoreServices, token: str | None) -> tuple[str, WsSubscription | None] | None:
    """(caller key, subscription the ticket names); None when the token is not valid."""
    if not token:
        return None
    if token.startswith("wst_"):
        async with core.db.transaction() as session:
            from sqlalchemy import select

            record = (
                await session.execute(
                    select(WsSubscription).where(WsSubscription.ticket_hash == _hash(token))
                )
            ).scalar_one_or_none()
            if record is None or record.ticket_expires_at < utcnow():
                return None
            return f"user:{record.user_id}", record
    try:
        principal = await core.identity.resolve(core.db, token)
    except ApiError:
        return None
    if not principal.can("vsm.read"):
        return None
    return f"user:{principal.user_id}", None


@router.websocket("/socket/websocket")
async def socket(websocket: WebSocket) -> None:
    core: CoreServices = websocket.app.state.core
    await websocket.accept()
    resolved = await _resolve(core, websocket.query_params.get("token"))
    if resolved is None:
        await websocket.close(code=POLICY_VIOLATION, reason="invalid or expired token")
        return
    caller, ticket_subscription = resolved
    if _open_connections[caller] >= MAX_CONNECTIONS_PER_CALLER:
        await websocket.close(code=POLICY_VIOLATION, reason="too many WebSocket connections")
        return
    _open_connections[caller] += 1
    user_id = caller.removeprefix("user:")
    subscription: Subscription = core.bus.subscribe([], maxsize=core.settings.bus.subscriber_queue)
    if ticket_subscription is not None:
        subscription.add_patterns(ticket_subscription.channels)
        subscription.filters.update(ticket_subscription.filters)

    async def on_message(incoming: dict[str, Any]) -> dict[str, Any] | None:
        kind = incoming.get("type")
        if kind == "authenticate":
            async with core.db.transaction() as session:
                record = await session.get(WsSubscription, str(incoming.get("subscription_id", "")))
                if record is None or str(record.user_id) != user_id:
                    return {"type": "error", "error": Unauthorized("Unknown subscription").message}
                subscription.add_patterns(record.channels)
                subscription.filters.clear()
                subscription.filters.update(record.filters)
                return {
                    "type": "authenticated",
                    "subscription_id": record.id,
                    "channels": subscription.patterns,
                }
        if kind in ("subscribe", "unsubscribe"):
            channel = incoming.get("channel")
            if channel not in CHANNELS:
                return {"type": "error", "error": f"unknown channel {channel!r}", "channels": list(CHANNELS)}
            if kind == "subscribe":
                subscription.add_patterns([channel])
            elif channel in subscription.patterns:
                subscription.patterns.remove(channel)
            return {"type": f"{kind}d", "channel": channel}
        if kind == "ping":
            return {"type": "pong"}
        return {"type": "error", "error": f"unknown message type {kind!r}"}

    try:
        await send_json(websocket, {"type": "connected", "channels": subscription.patterns})
        await relay(websocket, subscription, render, on_client_message=on_message)
    finally:
        core.bus.unsubscribe(subscription)
        _open_connections[caller] -= 1
