"""Request and response shapes for webhook subscriptions, shared by the surfaces that offer them."""

from __future__ import annotations

from pydantic import BaseModel, Field

from pentad.core.db import isoformat_z
from pentad.core.webhooks.models import WebhookDelivery, WebhookSubscription


class WebhookCreate(BaseModel):
    url: str = Field(max_length=2048, examples=["https://your-app.com/webhooks/vsm"])
    events: list[str] = Field(min_length=1, max_length=20, examples=[["pattern.matched"]])
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


def webhook_view(subscription: WebhookSubscription) -> WebhookView:
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
