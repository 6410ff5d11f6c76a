"""Users, logins and workspaces for the CRM tests."""

from __future__ import annotations

from typing import Any

from tests.helpers import RunningApp


async def user_headers(app: RunningApp, username: str, roles: list[str] | None = None) -> dict[str, str]:
    async with app.core.db.transaction() as session:
        await app.core.identity.create_user(
            session,
            email=f"{username}@example.com",
            username=username,
            password=f"{username}-password",
            roles=roles or ["user"],
            name=username.title(),
        )
    response = await app.client.post(
        "/auth/login", json={"username": username, "password": f"{username}-password"}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def workspace(app: RunningApp, headers: dict[str, str], name: str = "Acme Sales") -> dict[str, Any]:
    response = await app.client.post("/api/v1/workspaces", headers=headers, json={"name": name})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def deal(app: RunningApp, headers: dict[str, str], workspace_id: str, **fields: Any) -> dict[str, Any]:
    body = {"title": "Deal", "value": 1000, **fields}
    response = await app.client.post(f"/api/v1/workspaces/{workspace_id}/deals", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())
