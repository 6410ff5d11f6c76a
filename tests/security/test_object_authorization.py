"""OWASP API1 (broken object-level authorization), across all five surfaces.

Bob owns one of every kind of object; Alice, holding the same role, tries every operation of the live
OpenAPI document whose path takes an id, with Bob's ids. Each must answer 403 or 404 in its surface's
envelope, and afterwards every one of Bob's objects must be as he left it. A new id-taking route fails
`test_every_id_route_is_covered` until it is added here, so the matrix cannot fall behind the API.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from pentad.surfaces.builds.projects import projects_root
from tests.helpers import RunningApp, SettingsFactory, login_admin
from tests.integration.surfaces.crm_helpers import user_headers
from tests.receivers import Receiver

# Operations whose path parameter names no owned object, with the reason.
NOT_OWNED = {
    ("POST", "/api/vsm/algedonic/{kind}"): "kind is pain or pleasure",
    ("POST", "/api/v1/webhooks/{integration}"): "inbound webhook, authenticated by the sender's signature",
    # spec 000's patterns and agents are shared system configuration: any holder of goldrush.read or
    # vsm.read may read them and only goldrush.admin/agents.manage may change them (tested below)
    ("GET", "/api/goldrush/patterns/{pattern_id}"): "shared configuration",
    ("DELETE", "/api/goldrush/patterns/{pattern_id}"): "shared configuration",
    ("GET", "/api/vsm/agents/{agent_id}"): "shared configuration",
    ("POST", "/api/vsm/agents/{agent_id}/command"): "shared configuration",
}

# Bodies that would succeed for the owner, so a refusal is about ownership, not validation.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PATCH", "/api/v1/deals/{deal_id}"): {"stage": "won"},
    ("PATCH", "/api/v1/insights/{insight_id}"): {"status": "dismissed"},
    ("PATCH", "/api/v1/users/{user_id}"): {"name": "Pwned"},
    ("POST", "/api/v1/vms/{vm_id}/execute"): {"command": "true"},
    ("POST", "/api/v1/workspaces/{workspace_id}/deals"): {"title": "intrusion", "value": 1},
    ("POST", "/api/v1/workspaces/{workspace_id}/integrations"): {"type": "csv", "name": "x", "config": {}},
    ("POST", "/api/v1/workspaces/{workspace_id}/members"): {"email": "alice@example.com"},
    ("POST", "/api/v1/workspaces/{workspace_id}/webhooks"): {
        "url": "http://127.0.0.1:9/hook",
        "events": ["deal.won"],
        "secret": "intruder-secret-1",
    },
}


@pytest.fixture
async def app(backend: str, make_settings: SettingsFactory, start_app: Any) -> RunningApp:
    settings = make_settings(
        backend,
        webhooks={"allowed_hosts": ["127.0.0.1"]},
        jobs={"poll_seconds": 0.1},
        rate_limits={"enabled": False},
        builds={"analysis_wait_s": 0, "max_tokens_per_file": 16, "planning_max_tokens": 16},
    )
    return await start_app(settings)  # type: ignore[no-any-return]


async def _ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    return dict(response.json())


async def _task(app: RunningApp, headers: dict[str, str], task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        task = (await app.client.get(f"/api/v1/tasks/{task_id}", headers=headers)).json()
        if task["status"] in ("completed", "failed", "cancelled"):
            return dict(task)
        await asyncio.sleep(0.05)
    raise AssertionError("task did not finish")


async def bobs_objects(
    app: RunningApp, bob: dict[str, str], bob_ops: dict[str, str], receiver: Receiver
) -> dict[str, str]:
    client = app.client
    workspace = await _ok(await client.post("/api/v1/workspaces", headers=bob, json={"name": "Bob Co"}), 201)
    wid = workspace["id"]
    deal = await _ok(
        await client.post(f"/api/v1/workspaces/{wid}/deals", headers=bob, json={"title": "Big", "value": 10}),
        201,
    )
    integration = await _ok(
        await client.post(
            f"/api/v1/workspaces/{wid}/integrations",
            headers=bob,
            json={"type": "csv", "name": "S", "config": {}},
        ),
        201,
    )
    await _ok(
        await client.post(
            "/api/v1/insights",
            headers=bob,
            json={"workspace_id": wid, "data": {"total_deals": 50, "won_deals": 5, "lost_deals": 20}},
        )
    )
    insights = await _ok(await client.get(f"/api/v1/workspaces/{wid}/insights", headers=bob))
    crm_hook = await _ok(
        await client.post(
            f"/api/v1/workspaces/{wid}/webhooks",
            headers=bob,
            json={"url": receiver.url, "events": ["deal.won"], "secret": "bob-crm-secret"},
        ),
        201,
    )
    vsm_hook = await _ok(
        await client.post(
            "/api/webhooks",
            headers=bob_ops,
            json={"url": receiver.url, "events": ["pattern.matched"], "secret": "bob-vsm-secret"},
        ),
        201,
    )
    created = await _ok(await client.post("/api/v1/vms", headers=bob, json={"name": "bob-vm"}), 202)
    task = await _task(app, bob, created["task_id"])
    assert task["status"] == "completed", task
    members = await _ok(await client.get(f"/api/v1/workspaces/{wid}/members", headers=bob))
    build = await _ok(
        await client.post(
            "/api/build/", headers=bob, json={"project_name": "bobs-app", "goal": "Add a helper"}
        ),
        202,
    )
    project = projects_root(app.core) / members["members"][0]["user_id"].replace("-", "") / "bobs-code"
    project.mkdir(parents=True)
    (project / "main.py").write_text("def main() -> int:\n    return 1\n")
    analysis = await _ok(
        await client.post("/api/analysis/", headers=bob, json={"project_name": "bobs-code"}), 202
    )
    return {
        "workspace_id": wid,
        "deal_id": deal["id"],
        "integration_id": integration["id"],
        "insight_id": insights["insights"][0]["id"],
        "webhook_id": crm_hook["id"],
        "vsm_webhook_id": vsm_hook["id"],
        "vm_id": task["result"]["vm_id"],
        "task_id": created["task_id"],
        "user_id": members["members"][0]["user_id"],
        "build_id": build["task_id"],
        "analysis_id": analysis["analysis_id"],
    }


async def snapshot(
    app: RunningApp, bob: dict[str, str], bob_ops: dict[str, str], ids: dict[str, str]
) -> dict[str, Any]:
    """Everything of Bob's that an intruder could have changed, as Bob sees it."""
    client = app.client
    wid = ids["workspace_id"]
    paths = [
        f"/api/v1/workspaces/{wid}",
        f"/api/v1/workspaces/{wid}/deals",
        f"/api/v1/workspaces/{wid}/members",
        f"/api/v1/workspaces/{wid}/integrations",
        f"/api/v1/workspaces/{wid}/insights",
        f"/api/v1/workspaces/{wid}/webhooks",
        f"/api/v1/deals/{ids['deal_id']}",
        f"/api/v1/users/{ids['user_id']}",
        f"/api/v1/vms/{ids['vm_id']}",
        f"/api/v1/vms/{ids['vm_id']}/executions",
        f"/api/webhooks/{ids['vsm_webhook_id']}",
    ]
    state = {}
    for path in paths:
        response = await client.get(path, headers=bob_ops if path.startswith("/api/webhooks") else bob)
        assert response.status_code == 200, (path, response.text)
        state[path] = response.json()
    return state


def id_routes(app: RunningApp) -> list[tuple[str, str]]:
    schema = app.app.openapi()
    return sorted(
        (method.upper(), path)
        for path, operations in schema["paths"].items()
        if "{" in path
        for method in operations
        if method in ("get", "post", "put", "patch", "delete")
    )


def fill(path: str, ids: dict[str, str]) -> str:
    values = dict(ids)
    if path.startswith("/api/webhooks/"):
        values["webhook_id"] = ids["vsm_webhook_id"]
    if path.startswith("/api/build/"):
        values["task_id"] = ids["build_id"]
    return path.format(**values)


async def test_every_id_route_refuses_another_users_ids(app: RunningApp, receiver: Receiver) -> None:
    # the same roles on both sides, so only ownership differs; `user` cannot manage spec 000 webhooks,
    # so those are owned and attacked by operators (who, by design, see every gateway task)
    bob, alice = await user_headers(app, "bob"), await user_headers(app, "alice")
    bob_ops, alice_ops = (
        await user_headers(app, "bobops", ["operator"]),
        await user_headers(app, "aliceops", ["operator"]),
    )
    ids = await bobs_objects(app, bob, bob_ops, receiver)
    before = await snapshot(app, bob, bob_ops, ids)
    tried = 0
    for method, template in id_routes(app):
        if (method, template) in NOT_OWNED:
            continue
        path = fill(template, ids)
        intruder = alice_ops if template.startswith("/api/webhooks") else alice
        response = await app.client.request(
            method, path, headers=intruder, json=BODIES.get((method, template))
        )
        assert response.status_code in (403, 404), (method, path, response.status_code, response.text)
        for secret in ("bob-crm-secret", "bob-vsm-secret"):
            assert secret not in response.text
        tried += 1
    assert tried >= 20
    assert await snapshot(app, bob, bob_ops, ids) == before


def test_every_id_route_is_covered(app: RunningApp) -> None:
    params = {
        "workspace_id",
        "deal_id",
        "integration_id",
        "insight_id",
        "webhook_id",
        "vm_id",
        "task_id",
        "user_id",
        "analysis_id",
    }
    for method, template in id_routes(app):
        if (method, template) in NOT_OWNED:
            continue
        names = {part.split("}")[0] for part in template.split("{")[1:]}
        assert names <= params, f"{method} {template} takes an id this matrix does not own: add it"
        if method in ("POST", "PUT", "PATCH") and not template.endswith(("/sync", "/events")):
            assert (method, template) in BODIES, f"{method} {template} needs a valid body in BODIES"


async def test_shared_configuration_needs_permission(app: RunningApp) -> None:
    admin = {"Authorization": f"Bearer {(await login_admin(app.client))['access_token']}"}
    user = await user_headers(app, "carol", ["user"])
    pattern = await _ok(
        await app.client.post(
            "/api/goldrush/patterns",
            headers=admin,
            json={"name": "p", "pattern": "type == 'x'", "actions": []},
        ),
        201,
    )
    agent = await _ok(
        await app.client.post("/api/vsm/agents", headers=admin, json={"name": "a", "type": "t"}), 201
    )
    assert (await app.client.get(f"/api/goldrush/patterns/{pattern['id']}", headers=user)).status_code == 200
    assert (
        await app.client.delete(f"/api/goldrush/patterns/{pattern['id']}", headers=user)
    ).status_code == 403
    assert (await app.client.get(f"/api/vsm/agents/{agent['id']}", headers=user)).status_code == 200
    command = await app.client.post(
        f"/api/vsm/agents/{agent['id']}/command", headers=user, json={"command": "status"}
    )
    assert command.status_code == 403
    assert (await app.client.get(f"/api/goldrush/patterns/{pattern['id']}", headers=admin)).status_code == 200
