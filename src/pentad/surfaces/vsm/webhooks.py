"""spec 000 Webhooks: `POST /api/webhooks` {url, events, secret}; plus list, get, delete and the
delivery log of a subscription."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from pentad.core.db import isoformat_z
from pentad.core.errors import ValidationFailed
from pentad.core.identity.dependencies import Core, DbSession, RequirePermission
from pentad.core.identity.principal import Principal
from pentad.core.webhooks.models import WebhookDelivery, WebhookSubscription

router = APIRouter(prefix="/api/webhooks", tags=["VSM: Webhooks"])

WebhookManager = Annotated[Principal, RequirePermission("webhooks.manage")]

# Events the VSM surface emits (see docs/surfaces/vsm.md); "*" subscribes to all of them.
VSM_EVENTS = ("pattern.matched", "system.alert", "agent.status_change", "algedonic.signal", "*")


class WebhookCreate(BaseModel):
    url: str = Field(max_length=2048, examples=["https://your-app.com/webhooks/vsm"])
    events: list[str] = Field(min_length=1, max_length=len(VSM_EVENTS), examples=[["pattern.matched"]])
    secret: str = Field(min_length=8, max_length=256)


class WebhookView(BaseModel):
    id: str
    url: str
    events: list[str]
    active: bool
    created_at: str


class DeliveryView(BaseModel):
    id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: str
    delivered_at: str | None


def view(subscription: WebhookSubscription) -> WebhookView:
    return WebhookView(
        id=subscription.id,
        url=subscription.url,
        events=subscription.events,
        active=subscription.active,
        created_at=isoformat_z(subscription.created_at),
    )


def delivery_view(delivery: WebhookDelivery) -> DeliveryView:
    return DeliveryView(
        id=str(delivery.id),
        event_id=delivery.event_id,
        event_type=delivery.event_type,
        status=delivery.status,
        attempts=delivery.attempts,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=isoformat_z(delivery.created_at),
        delivered_at=isoformat_z(delivery.delivered_at) if delivery.delivered_at else None,
    )


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
    return view(subscription)


@router.get("", response_model=list[WebhookView], summary="List webhook subscriptions")
async def list_webhooks(principal: WebhookManager, core: Core, session: DbSession) -> list[WebhookView]:
    owner = None if principal.is_admin else principal.user_id
    return [view(item) for item in await core.webhooks.list_for(session, style="vsm", owner_id=owner)]


@router.get("/{webhook_id}", response_model=WebhookView, summary="Get a webhook subscription")
async def get_webhook(
    webhook_id: str, principal: WebhookManager, core: Core, session: DbSession
) -> WebhookView:
    owner = None if principal.is_admin else principal.user_id
    return view(await core.webhooks.get(session, webhook_id, owner_id=owner))


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
