"""spec 000 Webhooks: `POST /api/webhooks` {url, events, secret}; plus list, get, delete and the
delivery log of a subscription."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from pentad.core.errors import ValidationFailed
from pentad.core.identity.dependencies import Core, DbSession, RequirePermission
from pentad.core.identity.principal import Principal
from pentad.core.webhooks.schemas import DeliveryView, WebhookCreate, WebhookView, delivery_view, webhook_view

router = APIRouter(prefix="/api/webhooks", tags=["VSM: Webhooks"])

WebhookManager = Annotated[Principal, RequirePermission("webhooks.manage")]

# Events the VSM surface emits (see docs/surfaces/vsm.md); "*" subscribes to all of them.
VSM_EVENTS = ("pattern.matched", "system.alert", "agent.status_change", "algedonic.signal", "*")


@router.post("", status_code=201, response_model=WebhookView, summary="Create a webhook subscription")
async def create_webhook(
    body: WebhookCreate, principal: WebhookManager, core: Core, session: DbSession
) -> WebhookView:
    unknown = [event for event in body.events if event not in VSM_EVENTS]
    if unknown:
        raise ValidationFailed(
            "Unknown webhook events",
            fields=[{"field": "events", "error": f"unknown {unknown}; known: {list(VSM_EVENTS)}"}],
        )
    subscription = await core.webhooks.create(
        session, owner_id=principal.user_id, url=body.url, events=body.events, secret=body.secret, style="vsm"
    )
    return webhook_view(subscription)


@router.get("", response_model=list[WebhookView], summary="List webhook subscriptions")
async def list_webhooks(principal: WebhookManager, core: Core, session: DbSession) -> list[WebhookView]:
    owner = None if principal.is_admin else principal.user_id
    return [webhook_view(item) for item in await core.webhooks.list_for(session, style="vsm", owner_id=owner)]


@router.get("/{webhook_id}", response_model=WebhookView, summary="Get a webhook subscription")
async def get_webhook(
    webhook_id: str, principal: WebhookManager, core: Core, session: DbSession
) -> WebhookView:
    owner = None if principal.is_admin else principal.user_id
    return webhook_view(await core.webhooks.get(session, webhook_id, owner_id=owner))


@router.delete(
    "/{webhook_id}", status_code=204, response_class=Response, summary="Delete a webhook subscription"
)
async def delete_webhook(
    webhook_id: str, principal: WebhookManager, core: Core, session: DbSession
) -> Response:
    owner = None if principal.is_admin else principal.user_id
    await core.webhooks.delete(session, await core.webhooks.get(session, webhook_id, owner_id=owner))
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=list[DeliveryView], summary="Delivery log")
async def deliveries(
    webhook_id: str, principal: WebhookManager, core: Core, session: DbSession
) -> list[DeliveryView]:
    owner = None if principal.is_admin else principal.user_id
    subscription = await core.webhooks.get(session, webhook_id, owner_id=owner)
    return [delivery_view(item) for item in await core.webhooks.deliveries(session, subscription.id)]
