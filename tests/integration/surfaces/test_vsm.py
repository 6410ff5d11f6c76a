"""spec 000 VSM core over HTTP: algedonic signals with their propagation and alerts, S1 agents and their
commands run as jobs (built-in handlers and sandboxed argv), permissions."""

from __future__ import annotations

from typing import Any

import pytest

from pentad.core import channels
from tests.helpers import RunningApp, SettingsFactory, login_admin
from tests.integration.surfaces.crm_helpers import user_headers


@pytest.fixture
async def app(make_settings: SettingsFactory, start_app: Any) -> RunningApp:
    return await start_app(make_settings(jobs={"poll_seconds": 0.1}))  # type: ignore[no-any-return]


async def admin(app: RunningApp) -> dict[str, str]:
    return {"Authorization": f"Bearer {(await login_admin(app.client))['access_token']}"}


async def test_spec_pain_signal(app: RunningApp) -> None:
    alerts = app.core.bus.subscribe([channels.VSM_ALERTS])
    response = await app.client.post(
        "/api/vsm/algedonic/pain",
        headers=await admin(app),
        json={
            "source": "s1_operations",
            "intensity": 0.8,
            "message": "High error rate detected in transaction processing",
            "metadata": {
                "error_rate": 0.15,
                "affected_services": ["payment", "order"],
                "duration_minutes": 5,
            },
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["signal_id"].startswith("alg_")
    assert body["type"] == "pain"
    assert body["intensity"] == 0.8
    assert body["propagation"] == ["s3", "s5"]
    assert body["actions_taken"] == [
        "Notified S3 for immediate audit",
        "Escalated to S5 for policy review",
        "Triggered automatic scaling",
    ]
    assert body["timestamp"].endswith("Z")
    received = [await alerts.get(timeout=2) for _ in range(2)]
    assert [(m.payload["system"], m.payload["severity"]) for m in received if m] == [
        ("s3", "high"),
        ("s5", "high"),
    ]


@pytest.mark.parametrize(
    ("kind", "intensity", "propagation"),
    [
        ("pain", 0.2, ["s2"]),
        ("pain", 0.5, ["s3"]),
        ("pleasure", 0.3, ["s4"]),
        ("pleasure", 0.9, ["s4", "s5"]),
    ],
)
async def test_propagation_rules(
    app: RunningApp, kind: str, intensity: float, propagation: list[str]
) -> None:
    response = await app.client.post(
        f"/api/vsm/algedonic/{kind}",
        headers=await admin(app),
        json={"source": "client_app", "intensity": intensity, "message": "m"},
    )
    assert response.json()["propagation"] == propagation


async def test_signal_validation_and_permissions(app: RunningApp) -> None:
    headers = await admin(app)
    assert (
        await app.client.post(
            "/api/vsm/algedonic/joy", headers=headers, json={"source": "x", "intensity": 0.5, "message": "m"}
        )
    ).status_code == 422
    too_hot = await app.client.post(
        "/api/vsm/algedonic/pain", headers=headers, json={"source": "x", "intensity": 1.5, "message": "m"}
    )
    assert too_hot.status_code == 422
    assert too_hot.json()["error"]["code"] == "VALIDATION_ERROR"
    viewer = await user_headers(app, "watcher", roles=["viewer"])
    denied = await app.client.post(
        "/api/vsm/algedonic/pain", headers=viewer, json={"source": "x", "intensity": 0.5, "message": "m"}
    )
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "PERMISSION_DENIED"


async def test_agent_lifecycle_and_commands(app: RunningApp) -> None:
    headers = await admin(app)
    created = await app.client.post(
        "/api/vsm/agents",
        headers=headers,
        json={
            "name": "payment_processor",
            "type": "transaction_handler",
            "capabilities": ["process_payment", "validate_card", "fraud_detection", "echo", "count_words"],
            "config": {
                "max_concurrent": 100,
                "timeout_ms": 5000,
                "retry_attempts": 3,
                "commands": {"count_words": ["wc", "-w"]},
            },
        },
    )
    assert created.status_code == 201, created.text
    agent = created.json()
    assert agent["id"].startswith("agent_")
    assert agent["status"] == "active"
    assert agent["capabilities"][:3] == ["process_payment", "validate_card", "fraud_detection"]
    assert agent["endpoint"].endswith(f"/api/vsm/agents/{agent['id']}/command")
    assert [a["id"] for a in (await app.client.get("/api/vsm/agents", headers=headers)).json()] == [
        agent["id"]
    ]

    echoed = await app.client.post(
        f"/api/vsm/agents/{agent['id']}/command",
        headers=headers,
        json={"command": "echo", "args": ["batch_123", "--priority", "high"], "timeout": 30000},
    )
    assert echoed.status_code == 200, echoed.text
    assert echoed.json()["result"] == "success"
    assert echoed.json()["output"]["echo"] == ["batch_123", "--priority", "high"]
    assert echoed.json()["execution_time_ms"] >= 0

    sandboxed = await app.client.post(
        f"/api/vsm/agents/{agent['id']}/command",
        headers=headers,
        json={"command": "count_words", "args": ["/etc/hostname"]},
    )
    body = sandboxed.json()
    assert body["result"] == "success", body
    assert body["output"]["exit_code"] == 0
    assert body["output"]["stdout"].strip().endswith("/etc/hostname")

    undeclared = await app.client.post(
        f"/api/vsm/agents/{agent['id']}/command",
        headers=headers,
        json={"command": "process_batch", "args": []},
    )
    assert undeclared.status_code == 422
    unhandled = await app.client.post(
        f"/api/vsm/agents/{agent['id']}/command", headers=headers, json={"command": "process_payment"}
    )
    assert unhandled.status_code == 422
    assert "config.commands.process_payment" in unhandled.text
    missing = await app.client.post(
        "/api/vsm/agents/agent_nope/command", headers=headers, json={"command": "echo"}
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["details"] == {"resource_type": "agent", "resource_id": "agent_nope"}


async def test_agent_command_timeout(app: RunningApp) -> None:
    headers = await admin(app)
    agent = (
        await app.client.post(
            "/api/vsm/agents",
            headers=headers,
            json={
                "name": "sleepy",
                "type": "test",
                "capabilities": ["nap"],
                "config": {"commands": {"nap": ["sleep", "5"]}},
            },
        )
    ).json()
    response = await app.client.post(
        f"/api/vsm/agents/{agent['id']}/command", headers=headers, json={"command": "nap", "timeout": 300}
    )
    assert response.status_code == 200
    assert response.json()["result"] == "timeout"


async def test_status_is_computed_from_live_state(app: RunningApp) -> None:
    headers = await admin(app)
    first = (await app.client.get("/api/vsm/status", headers=headers)).json()
    assert first["status"] == "healthy"
    assert set(first["systems"]) == {"s1", "s2", "s3", "s4", "s5"}
    assert first["systems"]["s1"]["agents"] == 0
    assert first["systems"]["s3"]["audit_status"] == "in_sync"
    assert first["systems"]["s3"]["events_last_hour"] == 0
    assert first["systems"]["s5"]["policy_version"] == "1.0.0"
    await app.client.post("/api/vsm/agents", headers=headers, json={"name": "a", "type": "t"})
    await app.client.post(
        "/api/vsm/algedonic/pain",
        headers=headers,
        json={"source": "s1", "intensity": 0.9, "message": "outage"},
    )
    await app.client.post(
        "/api/vsm/algedonic/pleasure",
        headers=headers,
        json={"source": "s1", "intensity": 0.3, "message": "fast deploy"},
    )
    await app.client.post(
        "/api/goldrush/patterns",
        headers=headers,
        json={"name": "any", "pattern": "type == 'x'", "actions": []},
    )
    await app.client.post("/api/goldrush/events", headers=headers, json={"type": "x"})
    after = (await app.client.get("/api/vsm/status", headers=headers)).json()["systems"]
    assert after["s3"]["events_last_hour"] == 1
    assert after["s3"]["patterns_active"] == 1
    assert after["s1"]["agents"] == 1
    assert after["s5"]["decisions_today"] == 1
    assert after["s4"]["intelligence_insights"] == 1
    assert after["s4"]["variety_absorption"] == 0.5  # one of two signals needed S5
    assert 0 <= after["s2"]["coordination_efficiency"] <= 1
    assert (await app.client.get("/api/vsm/status")).status_code == 401
