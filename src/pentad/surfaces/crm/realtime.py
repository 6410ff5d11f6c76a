"""spec 002 `/ws`: real-time CRM events as `{"event": "deal.created", "data": {...}}`.

Browsers cannot set headers on a WebSocket, so the token travels as `?token=` (JWT or API key). A
connection hears its user's channel and the channels of the workspaces it is a member of at connect time.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, WebSocket

from pentad.core import channels
from pentad.core.bus import Message
from pentad.core.context import CoreServices
from pentad.core.realtime import relay, send_json, websocket_principal
from pentad.surfaces.crm.service import CrmService

router = APIRouter(tags=["CRM: WebSocket"])


def render(message: Message) -> dict[str, Any]:
    return {"event": message.type, "data": message.payload}


@router.websocket("/ws")
async def events(websocket: WebSocket) -> None:
    core: CoreServices = websocket.app.state.core
    await websocket.accept()
    principal = await websocket_principal(websocket, core)
    if principal is None:
        return
    async with core.db.transaction() as session:
        workspace_ids = await CrmService(core).workspace_ids_of(session, principal.user_id)
    patterns = [channels.user(principal.user_id), *(channels.workspace(w) for w in workspace_ids)]
    subscription = core.bus.subscribe(patterns, maxsize=core.settings.bus.subscriber_queue)
    try:
        await send_json(websocket, {"event": "connected", "data": {"user_id": str(principal.user_id)}})
        await relay(websocket, subscription, render)
    finally:
        core.bus.unsubscribe(subscription)
