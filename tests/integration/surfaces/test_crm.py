"""spec 002 (VectorOS) over HTTP: the document's examples, tenancy, deals with stage history, events
on `/ws`, deal.won/lost webhooks, users and mass assignment. SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import websockets

from tests.conftest import LiveServer
from tests.helpers import RunningApp, SettingsFactory
from tests.integration.surfaces.crm_helpers import deal, user_headers, workspace
from tests.receivers import Receiver


@pytest.fixture
async def alice_and_bob(running: RunningApp) -> tuple[RunningApp, dict[str, str], dict[str, str]]:
    return running, await user_headers(running, "alice"), await user_headers(running, "bob")


async def test_spec_examples(running: RunningApp) -> None:
    health = (await running.client.get("/health")).json()
    assert health["status"] == "ok"
    assert health["service"] == "vectoros-backend"
    assert (await running.client.get("/api/v1")).json() == {"message": "VectorOS API v1", "version": "0.1.0"}
    headers = await user_headers(running, "carol")
    response = await running.client.post(
        "/api/v1/insights",
        headers=headers,
        json={
            "workspace_id": None,
            "data_type": "deals",
            "data": {
                "total_deals": 45,
                "won_deals": 12,
                "lost_deals": 8,
                "in_progress": 25,
                "average_deal_value": 15000,
                "conversion_rate": 0.27,
            },
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    first = body["insights"][0]
    assert first["title"] == "Conversion Rate Below Industry Average"
    assert first["description"] == (
        "Your 27% conversion rate is below the industry average of 35% for B2B SaaS."
    )
    assert first["priority"] == "high"
    assert 0.5 < first["confidence"] < 0.95
    assert body["recommendations"][0]["title"] == "Implement Lead Scoring"
    # confidence is computed from the evidence: fewer closed deals, less confidence
    thin = await running.client.post(
        "/api/v1/insights",
        headers=headers,
        json={"data": {"total_deals": 5, "won_deals": 1, "lost_deals": 1, "conversion_rate": 0.2}},
    )
    assert thin.json()["insights"][0]["confidence"] < first["confidence"]


async def test_tenancy_matrix(alice_and_bob: tuple[RunningApp, dict[str, str], dict[str, str]]) -> None:
    app, alice, bob = alice_and_bob
    ws_a = await workspace(app, alice, "A")
    ws_b = await workspace(app, bob, "B")
    deal_b = await deal(app, bob, ws_b["id"], title="Bob's secret deal")
    integration_b = (
        await app.client.post(
            f"/api/v1/workspaces/{ws_b['id']}/integrations",
            headers=bob,
            json={"type": "csv", "name": "Bob's CSV", "config": {}},
        )
    ).json()
    insight_b = await app.client.post(
        "/api/v1/insights",
        headers=bob,
        json={"workspace_id": ws_b["id"], "data": {"total_deals": 50, "won_deals": 5, "lost_deals": 20}},
    )
    assert insight_b.status_code == 200
    listed = (await app.client.get(f"/api/v1/workspaces/{ws_b['id']}/insights", headers=bob)).json()
    insight_id = listed["insights"][0]["id"]
    bob_id = (await app.client.get(f"/api/v1/workspaces/{ws_b['id']}/members", headers=bob)).json()[
        "members"
    ][0]["user_id"]
    wid, did = ws_b["id"], deal_b["id"]
    attempts = [
        ("GET", f"/api/v1/workspaces/{wid}", None),
        ("GET", f"/api/v1/workspaces/{wid}/members", None),
        ("POST", f"/api/v1/workspaces/{wid}/members", {"email": "alice@example.com"}),
        ("GET", f"/api/v1/workspaces/{wid}/deals", None),
        ("POST", f"/api/v1/workspaces/{wid}/deals", {"title": "intrusion"}),
        ("GET", f"/api/v1/deals/{did}", None),
        ("PATCH", f"/api/v1/deals/{did}", {"stage": "won"}),
        ("DELETE", f"/api/v1/deals/{did}", None),
        ("GET", f"/api/v1/workspaces/{wid}/integrations", None),
        ("POST", f"/api/v1/workspaces/{wid}/integrations", {"type": "csv", "name": "x", "config": {}}),
        ("DELETE", f"/api/v1/integrations/{integration_b['id']}", None),
        ("POST", f"/api/v1/integrations/{integration_b['id']}/sync", None),
        ("GET", f"/api/v1/workspaces/{wid}/insights", None),
        ("PATCH", f"/api/v1/insights/{insight_id}", {"status": "dismissed"}),
        ("POST", "/api/v1/insights", {"workspace_id": wid, "data": {"total_deals": 1}}),
        ("GET", f"/api/v1/workspaces/{wid}/analytics/pipeline", None),
        ("GET", f"/api/v1/workspaces/{wid}/analytics/conversion", None),
        ("GET", f"/api/v1/workspaces/{wid}/analytics/forecast", None),
        ("GET", f"/api/v1/workspaces/{wid}/webhooks", None),
        ("GET", f"/api/v1/users/{bob_id}", None),
    ]
    for method, path, body in attempts:
        response = await app.client.request(method, path, headers=alice, json=body)
        assert response.status_code == 404, (method, path, response.status_code, response.text)
        envelope = response.json()
        assert set(envelope) == {"error", "code", "details"}
        assert "secret" not in response.text
    # nothing of Bob's changed
    still = await app.client.get(f"/api/v1/deals/{did}", headers=bob)
    assert still.json()["stage"] == "lead"
    assert (await app.client.get(f"/api/v1/workspaces/{wid}/deals", headers=bob)).json()["total"] == 1
    # and Alice's own workspace works for her
    assert (await app.client.get(f"/api/v1/workspaces/{ws_a['id']}", headers=alice)).json()["role"] == "owner"
    # once a member, Bob's workspace opens to her
    added = await app.client.post(
        f"/api/v1/workspaces/{wid}/members", headers=bob, json={"email": "alice@example.com"}
    )
    assert added.status_code == 201
    assert (await app.client.get(f"/api/v1/deals/{did}", headers=alice)).status_code == 200
    # but as a plain member she cannot add others
    await user_headers(app, "mallory")
    denied = await app.client.post(
        f"/api/v1/workspaces/{wid}/members", headers=alice, json={"email": "mallory@example.com"}
    )
    assert denied.status_code == 403


async def test_deal_lifecycle_and_stage_history(
    alice_and_bob: tuple[RunningApp, dict[str, str], dict[str, str]],
) -> None:
    app, alice, _bob = alice_and_bob
    ws = await workspace(app, alice)
    created = await deal(
        app,
        alice,
        ws["id"],
        title="Big Co renewal",
        value=25000,
        company="Big Co",
        expected_close_date="2026-12-15",
    )
    assert created["stage"] == "lead"
    assert created["probability"] == 10
    assert created["currency"] == "USD"
    for stage in ("qualified", "proposal", "won"):
        moved = await app.client.patch(f"/api/v1/deals/{created['id']}", headers=alice, json={"stage": stage})
        assert moved.status_code == 200
    won = (await app.client.get(f"/api/v1/deals/{created['id']}", headers=alice)).json()
    assert won["stage"] == "won"
    assert won["probability"] == 100
    assert won["closed_at"] is not None
    assert [(h["from_stage"], h["to_stage"]) for h in won["stage_history"]] == [
        (None, "lead"),
        ("lead", "qualified"),
        ("qualified", "proposal"),
        ("proposal", "won"),
    ]
    bad = await app.client.patch(f"/api/v1/deals/{created['id']}", headers=alice, json={"stage": "closed"})
    assert bad.status_code == 422
    assert bad.json()["code"] == "VALIDATION_ERROR"
    negative = await app.client.post(
        f"/api/v1/workspaces/{ws['id']}/deals", headers=alice, json={"title": "x", "value": -5}
    )
    assert negative.status_code == 422
    listed = await app.client.get(
        f"/api/v1/workspaces/{ws['id']}/deals?stage=won&limit=10&offset=0", headers=alice
    )
    assert listed.json()["total"] == 1
    assert (await app.client.delete(f"/api/v1/deals/{created['id']}", headers=alice)).status_code == 204
    assert (await app.client.get(f"/api/v1/deals/{created['id']}", headers=alice)).status_code == 404


async def test_list_filters_and_pagination(running: RunningApp) -> None:
    alice = await user_headers(running, "alice")
    bob = await user_headers(running, "bob")
    ws = await workspace(running, alice)
    await running.client.post(
        f"/api/v1/workspaces/{ws['id']}/members", headers=alice, json={"email": "bob@example.com"}
    )
    members = (await running.client.get(f"/api/v1/workspaces/{ws['id']}/members", headers=alice)).json()[
        "members"
    ]
    bob_id = next(m["user_id"] for m in members if m["email"] == "bob@example.com")
    for n in range(7):
        await deal(
            running,
            alice,
            ws["id"],
            title=f"deal {n}",
            stage="proposal" if n % 2 else "lead",
            owner_id=bob_id if n < 3 else None,
        )
    page = (
        await running.client.get(f"/api/v1/workspaces/{ws['id']}/deals?limit=3&offset=3", headers=bob)
    ).json()
    assert page["total"] == 7
    assert [d["title"] for d in page["deals"]] == ["deal 3", "deal 2", "deal 1"]
    proposals = (
        await running.client.get(f"/api/v1/workspaces/{ws['id']}/deals?stage=proposal", headers=bob)
    ).json()
    assert proposals["total"] == 3
    assigned = (
        await running.client.get(f"/api/v1/workspaces/{ws['id']}/deals?assignedTo={bob_id}", headers=bob)
    ).json()
    assert {d["title"] for d in assigned["deals"]} == {"deal 0", "deal 1", "deal 2"}
    outsider = await running.client.post(
        f"/api/v1/workspaces/{ws['id']}/deals",
        headers=alice,
        json={"title": "x", "owner_id": "550e8400-e29b-41d4-a716-446655440000"},
    )
    assert outsider.status_code == 422


async def test_won_and_lost_fire_webhooks_and_ws_events(
    make_settings: SettingsFactory, start_server: Any, receiver: Receiver
) -> None:
    server: LiveServer = await start_server(
        make_settings(
            webhooks={"allowed_hosts": ["127.0.0.1"], "poll_seconds": 0.05},
        )
    )
    import httpx

    async with httpx.AsyncClient(base_url=server.url) as client:
        app = RunningApp(server.app, client)
        alice = await user_headers(app, "alice")
        ws = await workspace(app, alice)
        hook = await client.post(
            f"/api/v1/workspaces/{ws['id']}/webhooks",
            headers=alice,
            json={"url": receiver.url, "events": ["deal.won", "deal.lost"], "secret": "crm-secret-1"},
        )
        assert hook.status_code == 201, hook.text
        token = alice["Authorization"].split()[1]
        async with websockets.connect(f"{server.ws_url}/ws?token={token}") as socket:
            assert json.loads(await socket.recv())["event"] == "connected"
            first = await deal(app, alice, ws["id"], title="Won deal", value=25000)
            second = await deal(app, alice, ws["id"], title="Lost deal", value=500)
            await client.patch(f"/api/v1/deals/{first['id']}", headers=alice, json={"stage": "won"})
            await client.patch(f"/api/v1/deals/{second['id']}", headers=alice, json={"stage": "lost"})
            events = []
            while len([e for e in events if e["event"] in ("deal.won", "deal.lost")]) < 2:
                events.append(json.loads(await asyncio.wait_for(socket.recv(), 5)))
        created = [e for e in events if e["event"] == "deal.created"]
        assert [e["data"]["title"] for e in created] == ["Won deal", "Lost deal"]
        deliveries = await receiver.wait_for(2)
        bodies = [json.loads(item.body) for item in deliveries]
        assert bodies[0]["event"] == "deal.won"
        assert set(bodies[0]) == {"event", "timestamp", "data"}
        assert bodies[0]["data"] == {"deal_id": first["id"], "value": 25000.0, "workspace_id": ws["id"]}
        assert bodies[1]["event"] == "deal.lost"


async def test_users_endpoints_and_mass_assignment(running: RunningApp) -> None:
    alice = await user_headers(running, "alice")
    admin_login = await running.client.post(
        "/auth/login", json={"username": "admin", "password": "admin-password-123"}
    )
    admin = {"Authorization": f"Bearer {admin_login.json()['access_token']}"}
    created = await running.client.post(
        "/api/v1/users",
        headers=admin,
        json={"email": "dave@example.com", "username": "dave", "name": "Dave", "password": "dave-password"},
    )
    assert created.status_code == 201, created.text
    assert "password" not in created.text
    assert "password_hash" not in created.text
    dave_id = created.json()["id"]
    denied = await running.client.post(
        "/api/v1/users",
        headers=alice,
        json={"email": "eve@example.com", "username": "eve", "password": "eve-password"},
    )
    assert denied.status_code == 403
    me = await running.client.get("/api/v1/workspaces", headers=alice)
    assert me.status_code in (404, 405)
    alice_ws = await workspace(running, alice)
    alice_id = (
        await running.client.get(f"/api/v1/workspaces/{alice_ws['id']}/members", headers=alice)
    ).json()["members"][0]["user_id"]
    assert (await running.client.get(f"/api/v1/users/{dave_id}", headers=alice)).status_code == 404
    raise_role = await running.client.patch(
        f"/api/v1/users/{alice_id}", headers=alice, json={"roles": ["admin"]}
    )
    assert raise_role.status_code == 403
    renamed = await running.client.patch(
        f"/api/v1/users/{alice_id}", headers=alice, json={"name": "Alice A."}
    )
    assert renamed.json()["name"] == "Alice A."
    assert renamed.json()["roles"] == ["user"]
    unknown_field = await running.client.patch(
        f"/api/v1/users/{alice_id}", headers=alice, json={"password_hash": "x"}
    )
    assert unknown_field.status_code == 422
    promoted = await running.client.patch(
        f"/api/v1/users/{dave_id}", headers=admin, json={"roles": ["operator"]}
    )
    assert promoted.json()["roles"] == ["operator"]
