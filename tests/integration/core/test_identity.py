"""Identity over HTTP: both login shapes, refresh, permissions, logout, API keys; every refusal in
the owning document's envelope. Runs on SQLite and on the real PostgreSQL."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest

from tests.helpers import ADMIN_PASSWORD, RunningApp, SettingsFactory, login_admin

SECRET = "test-secret-" + "x" * 40


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_spec000_login_returns_documented_shape(running: RunningApp) -> None:
    body = await login_admin(running.client)
    assert set(body) == {"access_token", "refresh_token", "expires_in", "user"}
    assert body["expires_in"] == 3600
    assert body["user"]["email"] == "admin@vsmphoenix.io"
    assert body["user"]["name"] == "System Admin"
    assert body["user"]["roles"] == ["admin", "operator"]
    assert body["user"]["id"].startswith("user_")
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"], issuer="pentad")
    assert claims["sub"] == "admin"
    assert claims["role"] == "admin"
    assert "build:create" in claims["permissions"]


async def test_spec004_login_by_username(running: RunningApp) -> None:
    response = await running.client.post(
        "/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["access_token"].startswith("eyJ")
    me = await running.client.get(
        "/api/auth/permissions", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.status_code == 200


async def test_permissions_match_spec_example_for_admin_operator(running: RunningApp) -> None:
    tokens = await login_admin(running.client)
    response = await running.client.get(
        "/api/auth/permissions", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    body = response.json()
    assert body["roles"] == ["admin", "operator"]
    for permission in ("vsm.read", "vsm.write", "agents.manage", "llm.access", "goldrush.admin"):
        assert permission in body["permissions"]
    assert body["resource_access"] == {
        "system_1": ["read", "write"],
        "system_2": ["read", "write"],
        "system_3": ["read"],
        "system_4": ["read"],
        "system_5": ["read", "write", "decide"],
    }


async def test_viewer_gets_read_only_permissions(running: RunningApp) -> None:
    async with running.core.db.transaction() as session:
        await running.core.identity.create_user(
            session, email="v@example.com", username="viewer1", password="viewer-pass-1", roles=["viewer"]
        )
    login = await running.client.post(
        "/auth/login", json={"username": "viewer1", "password": "viewer-pass-1"}
    )
    token = login.json()["access_token"]
    body = (
        await running.client.get("/api/auth/permissions", headers={"Authorization": f"Bearer {token}"})
    ).json()
    assert "build:read" in body["permissions"]
    assert "build:create" not in body["permissions"]
    assert all(actions == ["read"] for actions in body["resource_access"].values())


async def test_refresh_issues_new_access_token(running: RunningApp) -> None:
    tokens = await login_admin(running.client)
    response = await running.client.post(
        "/api/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_in"}
    ok = await running.client.get(
        "/api/auth/permissions", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        ("/api/auth/login", {"email": "admin@vsmphoenix.io", "password": "wrong-password"}),
        ("/api/auth/login", {"email": "nobody@vsmphoenix.io", "password": ADMIN_PASSWORD}),
        ("/auth/login", {"username": "admin", "password": "wrong-password"}),
    ],
)
async def test_wrong_credentials_refused(running: RunningApp, path: str, payload: dict[str, str]) -> None:
    response = await running.client.post(path, json=payload)
    assert response.status_code == 401
    body = response.json()
    if path.startswith("/api/"):
        assert body["error"]["code"] == "AUTHENTICATION_REQUIRED"
        assert body["error"]["message"] == "Invalid credentials"
        assert "request_id" in body
    else:
        assert body["error"] == "unauthorized"
        assert body["status_code"] == 401
        assert body["detail"] == "Invalid credentials"


async def test_refresh_token_is_not_an_access_token(running: RunningApp) -> None:
    tokens = await login_admin(running.client)
    response = await running.client.get(
        "/api/auth/permissions", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Expected an access token"


async def test_access_token_is_not_a_refresh_token(running: RunningApp) -> None:
    tokens = await login_admin(running.client)
    response = await running.client.post(
        "/api/auth/refresh", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert response.status_code == 401


async def test_expired_token_refused(running: RunningApp) -> None:
    tokens = await login_admin(running.client)
    claims = jwt.decode(tokens["access_token"], SECRET, algorithms=["HS256"], issuer="pentad")
    claims["iat"] = int(time.time()) - 7200
    claims["exp"] = int(time.time()) - 10
    expired = jwt.encode(claims, SECRET, algorithm="HS256")
    response = await running.client.get(
        "/api/auth/permissions", headers={"Authorization": f"Bearer {expired}"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Token has expired"


async def test_tampered_token_refused(running: RunningApp) -> None:
    tokens = await login_admin(running.client)
    header, _payload, signature = tokens["access_token"].split(".")
    claims = jwt.decode(tokens["access_token"], SECRET, algorithms=["HS256"], issuer="pentad")
    claims["roles"] = ["admin"]
    claims["uid"] = str(uuid.uuid4())
    forged = f"{header}.{_b64(claims)}.{signature}"
    response = await running.client.get(
        "/api/auth/permissions", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401


async def test_alg_none_token_refused(running: RunningApp) -> None:
    tokens = await login_admin(running.client)
    claims = jwt.decode(tokens["access_token"], SECRET, algorithms=["HS256"], issuer="pentad")
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    response = await running.client.get(
        "/api/auth/permissions", headers={"Authorization": f"Bearer {unsigned}"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_REQUIRED"


async def test_token_signed_with_other_key_refused(running: RunningApp) -> None:
    tokens = await login_admin(running.client)
    claims = jwt.decode(tokens["access_token"], SECRET, algorithms=["HS256"], issuer="pentad")
    forged = jwt.encode(claims, "another-secret-" + "y" * 40, algorithm="HS256")
    response = await running.client.get(
        "/api/auth/permissions", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401


async def test_logout_revokes_access_and_refresh_tokens(running: RunningApp) -> None:
    tokens = await login_admin(running.client)
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    response = await running.client.post(
        "/api/auth/logout", headers=auth, json={"refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 204
    after = await running.client.get("/api/auth/permissions", headers=auth)
    assert after.status_code == 401
    assert after.json()["error"]["message"] == "Token has been revoked"
    refreshed = await running.client.post(
        "/api/auth/refresh", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert refreshed.status_code == 401


async def test_configured_api_key_map_authenticates(
    backend: str, make_settings: SettingsFactory, start_app: object
) -> None:
    user_id = "550e8400-e29b-41d4-a716-446655440000"
    settings = make_settings(backend, security={"api_key_users": {"sk-abc123def456": user_id}})
    app = await start_app(settings)  # type: ignore[operator]
    for headers in ({"Authorization": "Bearer sk-abc123def456"}, {"X-API-Key": "sk-abc123def456"}):
        response = await app.client.get("/api/auth/permissions", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["roles"] == ["user"]
    wrong = await app.client.get(
        "/api/auth/permissions", headers={"Authorization": "Bearer sk-not-a-key-000"}
    )
    assert wrong.status_code == 401


async def test_created_api_key_is_stored_hashed_and_revocable(running: RunningApp) -> None:
    core = running.core
    async with core.db.transaction() as session:
        admin = await core.identity.find_user(session, "admin")
        api_key, plaintext = await core.identity.create_api_key(session, admin, "ci")
    assert plaintext.startswith("sk-")
    assert api_key.key_hash != plaintext
    assert plaintext not in api_key.key_hash
    response = await running.client.get("/api/auth/permissions", headers={"X-API-Key": plaintext})
    assert response.status_code == 200
    assert "goldrush.admin" in response.json()["permissions"]
    async with core.db.transaction() as session:
        await core.identity.revoke_api_key(session, str(api_key.id))
    revoked = await running.client.get("/api/auth/permissions", headers={"X-API-Key": plaintext})
    assert revoked.status_code == 401


async def test_missing_credentials_in_each_envelope(running: RunningApp) -> None:
    vsm = await running.client.get("/api/auth/permissions")
    assert vsm.status_code == 401
    assert vsm.json()["error"]["code"] == "AUTHENTICATION_REQUIRED"
    builds = await running.client.post("/auth/logout")
    assert builds.status_code == 401
    assert builds.json()["error"] == "unauthorized"
