"""OWASP API3 (excessive data exposure) and API6 (mass assignment).

Every kind of secret Pentad holds is planted: passwords (and so their argon2 hashes), API keys, the JWT
secret, webhook signing secrets of spec 000 and spec 002, GitHub/Slack/WhatsApp secrets. Then every
parameterless GET of the live OpenAPI document, every id GET for the planted objects, and a round of
failing logins and bad requests are made as an admin; no response body or header, and no log line
written meanwhile, may contain any of them.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import select

from pentad.core.identity.models import User
from tests.helpers import ADMIN_PASSWORD, RunningApp, SettingsFactory, login_admin
from tests.integration.surfaces.crm_helpers import user_headers
from tests.receivers import Receiver

JWT_SECRET = "exposure-jwt-secret-" + "q" * 30
STATIC_KEY = "sk-static0exposure0key"
SECRETS = {
    "github": "gh-exposure-secret-77",
    "github_token": "ghp_exposuretoken0000000000",
    "slack": "slack-exposure-secret-77",
    "slack_token": "xoxb-exposure-token-77",
    "whatsapp_verify": "wa-verify-exposure-77",
    "whatsapp_app": "wa-app-exposure-77",
    "whatsapp_access": "wa-access-exposure-77",
    "vsm_webhook": "vsm-webhook-exposure-77",
    "crm_webhook": "crm-webhook-exposure-77",
    "user_password": "mallory-password",
}


@pytest.fixture
async def app(backend: str, make_settings: SettingsFactory, start_app: Any) -> RunningApp:
    settings = make_settings(
        backend,
        security={
            "jwt_secret": JWT_SECRET,
            "api_key_users": {STATIC_KEY: "550e8400-e29b-41d4-a716-446655440000"},
        },
        gateway={
            "github_webhook_secret": SECRETS["github"],
            "github_token": SECRETS["github_token"],
            "slack_signing_secret": SECRETS["slack"],
            "slack_bot_token": SECRETS["slack_token"],
        },
        assistant={
            "whatsapp_verify_token": SECRETS["whatsapp_verify"],
            "whatsapp_app_secret": SECRETS["whatsapp_app"],
            "whatsapp_access_token": SECRETS["whatsapp_access"],
        },
        webhooks={"allowed_hosts": ["127.0.0.1"]},
        rate_limits={"enabled": False},
    )
    return await start_app(settings)  # type: ignore[no-any-return]


async def test_no_secret_in_any_response_or_log_line(
    app: RunningApp, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = app.client
    admin = {"Authorization": f"Bearer {(await login_admin(client))['access_token']}"}
    mallory = await user_headers(app, "mallory")
    async with app.core.db.transaction() as session:
        owner = await app.core.identity.find_user(session, "admin")
        _key, api_key = await app.core.identity.create_api_key(session, owner, "exposure")
        users = (await session.execute(select(User))).scalars()
        hashes = [user.password_hash for user in users if user.password_hash]  # key-only users have none
    assert len(hashes) == 2
    assert all(value.startswith("$argon2") for value in hashes)

    hook = await client.post(
        "/api/webhooks",
        headers=admin,
        json={"url": receiver.url, "events": ["pattern.matched"], "secret": SECRETS["vsm_webhook"]},
    )
    assert hook.status_code == 201, hook.text
    workspace = (await client.post("/api/v1/workspaces", headers=admin, json={"name": "W"})).json()
    crm_hook = await client.post(
        f"/api/v1/workspaces/{workspace['id']}/webhooks",
        headers=admin,
        json={"url": receiver.url, "events": ["deal.won"], "secret": SECRETS["crm_webhook"]},
    )
    assert crm_hook.status_code == 201, crm_hook.text

    responses = []
    schema = app.app.openapi()
    for path, operations in schema["paths"].items():
        if "get" in operations and "{" not in path and not path.endswith(("/stream", "/events")):
            for headers in (admin, {"X-API-Key": api_key}, mallory):
                responses.append(await client.get(path, headers=headers))
    for path in (
        f"/api/webhooks/{hook.json()['id']}",
        f"/api/webhooks/{hook.json()['id']}/deliveries",
        f"/api/v1/workspaces/{workspace['id']}/webhooks",
        f"/api/v1/workspaces/{workspace['id']}",
    ):
        responses.append(await client.get(path, headers=admin))
    # failures must not echo what was sent either
    responses.append(
        await client.post("/auth/login", json={"username": "mallory", "password": SECRETS["vsm_webhook"]})
    )
    responses.append(
        await client.post(
            "/api/auth/login", json={"email": "admin@vsmphoenix.io", "password": ADMIN_PASSWORD + "x"}
        )
    )
    responses.append(await client.get("/api/auth/permissions", headers={"X-API-Key": api_key + "0"}))
    responses.append(
        await client.get("/api/auth/permissions", headers={"Authorization": f"Bearer {JWT_SECRET}"})
    )
    responses.append(
        await client.post(
            "/api/v1/users",
            headers=admin,
            json={"email": "bad", "username": "x", "password": SECRETS["user_password"], "name": "x"},
        )
    )
    assert len(responses) > 60

    forbidden = [*SECRETS.values(), JWT_SECRET, STATIC_KEY, api_key, ADMIN_PASSWORD, *hashes, "$argon2"]
    for response in responses:
        text = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
        for secret in forbidden:
            assert secret not in text, (str(response.request.url), secret[:12])
    logged = "\n".join(record.getMessage() + str(record.args or "") for record in caplog.records)
    assert logged  # the run did log; make sure of what
    for secret in forbidden:
        assert secret not in logged, secret[:12]


async def test_mass_assignment_cannot_raise_a_role_or_take_ownership(app: RunningApp) -> None:
    client = app.client
    mallory = await user_headers(app, "mallory")
    victim = await user_headers(app, "victim")
    me = (await client.get("/api/auth/permissions", headers=mallory)).json()
    assert me["roles"] == ["user"]
    members = (await client.post("/api/v1/workspaces", headers=mallory, json={"name": "M"})).json()
    own = (await client.get(f"/api/v1/workspaces/{members['id']}/members", headers=mallory)).json()
    mallory_id = own["members"][0]["user_id"]

    for body in ({"roles": ["admin"]}, {"is_active": True, "roles": ["admin", "user"]}):
        refused = await client.patch(f"/api/v1/users/{mallory_id}", headers=mallory, json=body)
        assert refused.status_code == 403
    # unknown fields are not silently applied either
    await client.patch(
        f"/api/v1/users/{mallory_id}", headers=mallory, json={"name": "M", "permissions": ["*"]}
    )
    after = (await client.get("/api/auth/permissions", headers=mallory)).json()
    assert after["roles"] == ["user"]
    assert "users.manage" not in after["permissions"]

    deal = (
        await client.post(
            f"/api/v1/workspaces/{members['id']}/deals", headers=mallory, json={"title": "D", "value": 1}
        )
    ).json()
    victim_ws = (await client.post("/api/v1/workspaces", headers=victim, json={"name": "V"})).json()
    moved = await client.patch(
        f"/api/v1/deals/{deal['id']}",
        headers=mallory,
        json={"workspace_id": victim_ws["id"], "owner_id": "00000000-0000-0000-0000-000000000000"},
    )
    assert moved.status_code in (200, 422)
    assert (await client.get(f"/api/v1/deals/{deal['id']}", headers=mallory)).json()[
        "workspace_id"
    ] == members["id"]
    assert (await client.get(f"/api/v1/workspaces/{victim_ws['id']}/deals", headers=victim)).json()[
        "total"
    ] == 0
