"""Outbound webhooks against a receiver over real HTTP: signatures, retries with backoff while the
receiver is down, order per subscription, stable event ids, SSRF refusal; spec 000's endpoints."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from pentad.core.webhooks.models import WebhookDelivery
from pentad.core.webhooks.service import canonical
from pentad.core.webhooks.signing import sign, verify
from tests.helpers import RunningApp, SettingsFactory, login_admin
from tests.receivers import Receiver

SECRET = "your-webhook-secret"
FAST_RETRIES = {
    "allowed_hosts": ["127.0.0.1"],
    "backoff_seconds": 0.05,
    "max_backoff_seconds": 0.2,
    "poll_seconds": 0.05,
    "max_attempts": 50,
}


@pytest.fixture
async def hooks_app(backend: str, make_settings: SettingsFactory, start_app: Any) -> RunningApp:
    return await start_app(make_settings(backend, webhooks=FAST_RETRIES))  # type: ignore[no-any-return]


async def auth(app: RunningApp) -> dict[str, str]:
    return {"Authorization": f"Bearer {(await login_admin(app.client))['access_token']}"}


async def emit(app: RunningApp, event_type: str, data: dict[str, Any]) -> str:
    async with app.core.db.transaction() as session:
        return await app.core.webhooks.emit(session, event_type, data, style="vsm")  # type: ignore[no-any-return]


async def test_spec000_subscription_and_signed_delivery(hooks_app: RunningApp, receiver: Receiver) -> None:
    headers = await auth(hooks_app)
    created = await hooks_app.client.post(
        "/api/webhooks",
        headers=headers,
        json={"url": receiver.url, "events": ["pattern.matched", "system.alert"], "secret": SECRET},
    )
    assert created.status_code == 201, created.text
    webhook = created.json()
    assert webhook["id"].startswith("wh_")
    assert "secret" not in webhook
    event_id = await emit(
        hooks_app,
        "pattern.matched",
        {"pattern_id": "pat_456", "pattern_name": "high_cpu_alert", "matched_event": {"cpu": 92}},
    )
    await emit(hooks_app, "agent.status_change", {"agent": "not subscribed"})
    [delivery] = await receiver.wait_for(1)
    assert delivery.headers["x-webhook-id"] == event_id
    assert verify(SECRET, delivery.body, delivery.headers["x-webhook-signature-256"])
    body = json.loads(delivery.body)
    assert set(body) == {"id", "type", "data", "timestamp", "signature"}
    assert body["id"] == event_id
    assert body["type"] == "pattern.matched"
    assert body["data"]["pattern_name"] == "high_cpu_alert"
    # the in-body signature covers the canonical JSON of everything but itself
    signature = body.pop("signature")
    assert signature == sign(SECRET, canonical(body))
    log = await hooks_app.client.get(f"/api/webhooks/{webhook['id']}/deliveries", headers=headers)
    entries = log.json()
    assert [entry["status"] for entry in entries] == ["delivered"]
    assert entries[0]["last_status_code"] == 200
    await asyncio.sleep(0.2)
    assert len(receiver.received) == 1  # the unsubscribed event never went out


async def test_receiver_down_then_back_gets_everything_in_order(
    hooks_app: RunningApp, receiver: Receiver
) -> None:
    headers = await auth(hooks_app)
    await hooks_app.client.post(
        "/api/webhooks", headers=headers, json={"url": receiver.url, "events": ["*"], "secret": SECRET}
    )
    receiver.status = 503
    event_ids = [await emit(hooks_app, "system.alert", {"n": n}) for n in range(5)]
    await asyncio.sleep(0.6)  # several failed attempts on the first delivery
    async with hooks_app.core.db.transaction() as session:
        from sqlalchemy import select

        rows = (
            (await session.execute(select(WebhookDelivery).order_by(WebhookDelivery.created_at)))
            .scalars()
            .all()
        )
        assert rows[0].attempts >= 2
        assert rows[0].last_status_code == 503
        assert all(row.attempts == 0 for row in rows[1:])  # later events wait their turn
    receiver.status = 200
    received = await receiver.wait_for(5)
    assert [json.loads(item.body)["data"]["n"] for item in received] == [0, 1, 2, 3, 4]
    assert [item.headers["x-webhook-id"] for item in received] == event_ids


async def test_private_urls_refused_unless_allow_listed(
    make_settings: SettingsFactory, start_app: Any
) -> None:
    app: RunningApp = await start_app(make_settings())
    headers = await auth(app)
    for url in (
        "http://127.0.0.1:9/hook",
        "http://169.254.169.254/latest",
        "http://10.0.0.1/x",
        "ftp://example.com/x",
    ):
        response = await app.client.post(
            "/api/webhooks", headers=headers, json={"url": url, "events": ["*"], "secret": SECRET}
        )
        assert response.status_code == 422, (url, response.text)
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_webhook_endpoints_need_permission_and_hide_others(
    hooks_app: RunningApp, receiver: Receiver
) -> None:
    assert (await hooks_app.client.get("/api/webhooks")).status_code == 401
    async with hooks_app.core.db.transaction() as session:
        await hooks_app.core.identity.create_user(
            session,
            email="viewer@example.com",
            username="viewer",
            password="viewer-password",
            roles=["viewer"],
        )
        await hooks_app.core.identity.create_user(
            session, email="op@example.com", username="op", password="operator-password", roles=["operator"]
        )
    viewer = (
        await hooks_app.client.post("/auth/login", json={"username": "viewer", "password": "viewer-password"})
    ).json()
    denied = await hooks_app.client.get(
        "/api/webhooks", headers={"Authorization": f"Bearer {viewer['access_token']}"}
    )
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "PERMISSION_DENIED"
    admin = await auth(hooks_app)
    created = (
        await hooks_app.client.post(
            "/api/webhooks", headers=admin, json={"url": receiver.url, "events": ["*"], "secret": SECRET}
        )
    ).json()
    operator = (
        await hooks_app.client.post("/auth/login", json={"username": "op", "password": "operator-password"})
    ).json()
    op_headers = {"Authorization": f"Bearer {operator['access_token']}"}
    assert (
        await hooks_app.client.get(f"/api/webhooks/{created['id']}", headers=op_headers)
    ).status_code == 404
    assert (
        await hooks_app.client.delete(f"/api/webhooks/{created['id']}", headers=op_headers)
    ).status_code == 404
    assert (await hooks_app.client.get("/api/webhooks", headers=op_headers)).json() == []
    assert (await hooks_app.client.delete(f"/api/webhooks/{created['id']}", headers=admin)).status_code == 204
    assert (await hooks_app.client.get(f"/api/webhooks/{created['id']}", headers=admin)).status_code == 404
