"""Webhook subscriptions and events. `emit` writes one delivery per matching subscription inside the
caller's transaction; the dispatcher sends them after commit."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Callable
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from pentad.config import WebhookSettings
from pentad.core.db import after_commit, isoformat_z, utcnow
from pentad.core.errors import NotFound, ValidationFailed
from pentad.core.webhooks.models import WebhookDelivery, WebhookSubscription
from pentad.core.webhooks.signing import sign
from pentad.core.webhooks.urls import check_outbound_url

Style = Literal["vsm", "crm"]


def canonical(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True, default=str).encode()


def build_body(style: str, event_id: str, event_type: str, data: dict[str, Any], secret: str) -> str:
    """The exact body sent. spec 000 carries `signature` inside the body: the HMAC of the canonical JSON
    of the envelope without it. Every style also gets the `X-Webhook-Signature-256` header over the body."""
    timestamp = isoformat_z(utcnow())
    if style == "crm":
        envelope: dict[str, Any] = {"event": event_type, "timestamp": timestamp, "data": data}
    else:
        envelope = {"id": event_id, "type": event_type, "data": data, "timestamp": timestamp}
        envelope["signature"] = sign(secret, canonical(envelope))
    return canonical(envelope).decode()


class WebhookService:
    def __init__(self, settings: WebhookSettings, wake: Callable[[], None]) -> None:
        self.settings = settings
        self._wake = wake

    def set_wake(self, wake: Callable[[], None]) -> None:
        self._wake = wake

    async def create(
        self,
        session: AsyncSession,
        *,
        owner_id: uuid.UUID,
        url: str,
        events: list[str],
        secret: str,
        style: Style,
        scope: str | None = None,
    ) -> WebhookSubscription:
        check_outbound_url(url, self.settings.allowed_hosts)
        if not events:
            raise ValidationFailed("events must not be empty", fields=[{"field": "events", "error": "empty"}])
        subscription = WebhookSubscription(
            id="wh_" + secrets.token_hex(8),
            owner_id=owner_id,
            style=style,
            scope=scope,
            url=url,
            events=list(dict.fromkeys(events)),
            secret=secret,
        )
        session.add(subscription)
        await session.flush()
        return subscription

    async def list_for(
        self, session: AsyncSession, *, style: Style, owner_id: uuid.UUID | None, scope: str | None = None
    ) -> list[WebhookSubscription]:
        query = select(WebhookSubscription).where(WebhookSubscription.style == style)
        if owner_id is not None:
            query = query.where(WebhookSubscription.owner_id == owner_id)
        if scope is not None:
            query = query.where(WebhookSubscription.scope == scope)
        return list((await session.execute(query.order_by(WebhookSubscription.created_at))).scalars())

    async def get(
        self, session: AsyncSession, subscription_id: str, *, owner_id: uuid.UUID | None
    ) -> WebhookSubscription:
        subscription = await session.get(WebhookSubscription, subscription_id)
        if subscription is None or (owner_id is not None and subscription.owner_id != owner_id):
            raise NotFound("webhook", subscription_id)
        return subscription

    async def delete(self, session: AsyncSession, subscription: WebhookSubscription) -> None:
        await session.delete(subscription)

    async def deliveries(
        self, session: AsyncSession, subscription_id: str, limit: int = 100
    ) -> list[WebhookDelivery]:
        rows = await session.execute(
            select(WebhookDelivery)
            .where(WebhookDelivery.subscription_id == subscription_id)
            .order_by(WebhookDelivery.created_at.desc())
            .limit(limit)
        )
        return list(rows.scalars())

    async def emit(
        self,
        session: AsyncSession,
        event_type: str,
        data: dict[str, Any],
        *,
        style: Style,
        scope: str | None = None,
    ) -> str:
        """Queue `event_type` for every active subscription of this style (and scope) that wants it."""
        event_id = "evt_" + secrets.token_hex(12)
        query = select(WebhookSubscription).where(
            WebhookSubscription.style == style, WebhookSubscription.active.is_(True)
        )
        if scope is not None:
            query = query.where(WebhookSubscription.scope == scope)
        queued = 0
        for subscription in (await session.execute(query)).scalars():
            if event_type not in subscription.events and "*" not in subscription.events:
                continue
            session.add(
                WebhookDelivery(
                    subscription_id=subscription.id,
                    event_id=event_id,
                    event_type=event_type,
                    body=build_body(style, event_id, event_type, data, subscription.secret),
                    next_attempt_at=utcnow(),
                )
            )
            queued += 1
        if queued:
            await session.flush()

            async def wake() -> None:
                self._wake()

            after_commit(session, wake)
        return event_id
