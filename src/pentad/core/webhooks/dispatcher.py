"""Sends queued webhook deliveries: in order per subscription, with exponential backoff, from any node.

Only the oldest unfinished delivery of a subscription is eligible, so a receiver sees events in the order
they happened. A delivery is claimed (`pending` -> `sending`) with a conditional UPDATE before it is sent,
so two nodes never send the same one at the same time; a claim older than the lease (node died) returns
to `pending`. Receivers deduplicate on `X-Webhook-Id` (the event id), which never changes across retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from pentad.config import WebhookSettings
from pentad.core.db import Database, utcnow
from pentad.core.errors import ApiError
from pentad.core.webhooks.models import WebhookDelivery, WebhookSubscription
from pentad.core.webhooks.signing import sign
from pentad.core.webhooks.urls import check_outbound_url

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
GONE = 410  # the receiver says the endpoint no longer exists: stop sending to it


class WebhookDispatcher:
    def __init__(
        self, db: Database, settings: WebhookSettings, client: httpx.AsyncClient | None = None
    ) -> None:
        self._db = db
        self._settings = settings
        self._client = client or httpx.AsyncClient(
            timeout=settings.timeout_seconds,
            follow_redirects=False,
            headers={"User-Agent": "Pentad-Webhooks/1"},
        )
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="pentad-webhooks")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.aclose()

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.poll_seconds)
            self._wake.clear()
            try:
                while await self.run_once():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("webhook dispatcher error; retrying")

    async def run_once(self) -> int:
        """Send every delivery that is due now (one per subscription); returns how many were sent."""
        due = await self._claim_due()
        if due:
            await asyncio.gather(*(self._send(*item) for item in due))
        return len(due)

    async def _claim_due(self) -> list[tuple[WebhookDelivery, WebhookSubscription]]:
        now = utcnow()
        claimed: list[tuple[WebhookDelivery, WebhookSubscription]] = []
        async with self._db.transaction() as session:
            await session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.status == "sending", WebhookDelivery.next_attempt_at < now - LEASE)
                .values(status="pending")
            )
            rows = await session.execute(
                select(WebhookDelivery, WebhookSubscription)
                .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
                .where(WebhookDelivery.status.in_(("pending", "sending")))
                .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
                .limit(500)
            )
            seen: set[str] = set()
            for delivery, subscription in rows.all():
                if subscription.id in seen:
                    continue
                seen.add(subscription.id)  # only the oldest unfinished delivery of a subscription may go
                if delivery.status != "pending" or delivery.next_attempt_at > now:
                    continue
                result = await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == delivery.id, WebhookDelivery.status == "pending")
                    .values(status="sending", next_attempt_at=now)
                )
                if int(getattr(result, "rowcount", 0) or 0) == 1:
                    claimed.append((delivery, subscription))
        return claimed

    async def _send(self, delivery: WebhookDelivery, subscription: WebhookSubscription) -> None:
        body = delivery.body.encode()
        headers = {
            "Content-Type": "application/json",
            "X-Webhook-Id": delivery.event_id,
            "X-Webhook-Event": delivery.event_type,
            "X-Webhook-Signature-256": sign(subscription.secret, body),
        }
        status_code: int | None = None
        error: str | None = None
        try:
            # checked again at delivery: the name may resolve elsewhere than when it was saved
            await asyncio.to_thread(check_outbound_url, subscription.url, self._settings.allowed_hosts)
        except ApiError as exc:
            await self._record(delivery, subscription, None, f"refused: {exc.message}"[:500])
            return
        try:
            response = await self._client.post(subscription.url, content=body, headers=headers)
            status_code = response.status_code
            if not 200 <= status_code < 300:
                error = f"receiver answered {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        await self._record(delivery, subscription, status_code, error)

    async def _record(
        self,
        delivery: WebhookDelivery,
        subscription: WebhookSubscription,
        status_code: int | None,
        error: str | None,
    ) -> None:
        now = utcnow()
        async with self._db.transaction() as session:
            row = await session.get(WebhookDelivery, delivery.id)
            if row is None:
                return
            row.attempts += 1
            row.last_status_code = status_code
            row.last_error = error
            if error is None:
                row.status = "delivered"
                row.delivered_at = now
                return
            if status_code == GONE:
                row.status = "failed"
                owner = await session.get(WebhookSubscription, subscription.id)
                if owner is not None:
                    owner.active = False
                return
            if row.attempts >= self._settings.max_attempts:
                row.status = "failed"
                return
            delay = min(
                self._settings.max_backoff_seconds, self._settings.backoff_seconds * 2 ** (row.attempts - 1)
            )
            row.status = "pending"
            row.next_attempt_at = now + timedelta(seconds=delay)
