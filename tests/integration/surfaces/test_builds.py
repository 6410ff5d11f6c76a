"""spec 004 builds and analyses over HTTP and WebSocket: the permission matrix, project-name injection,
cancel in every state, the fixture project's planted issues found through the API (tests run in a
sandbox VM), and a build run end to end on the bundled model, watched through `/api/ws/build/{id}`."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from pentad.surfaces.builds.projects import projects_root
from tests.conftest import LiveServer
from tests.helpers import RunningApp, SettingsFactory, free_port, login_admin
from tests.integration.surfaces.crm_helpers import user_headers

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "analysis_project"
FAST = {
    "builds": {"max_tokens_per_file": 48, "planning_max_tokens": 32, "max_files": 3, "analysis_wait_s": 120},
    "jobs": {"poll_seconds": 0.1, "concurrency": 1},
    "webhooks": {"allowed_hosts": ["127.0.0.1"]},
    "rate_limits": {
        "builds": "100000/minute",
        "build_create": "1000/minute",
        "analysis_create": "1000/minute",
    },
}


@pytest.fixture
async def app(make_settings: SettingsFactory, start_app: Any) -> RunningApp:
    return await start_app(make_settings(**FAST))  # type: ignore[no-any-return]


async def admin(app: RunningApp) -> dict[str, str]:
    return {"Authorization": f"Bearer {(await login_admin(app.client))['access_token']}"}


async def create_build(app: RunningApp, headers: dict[str, str], **body: Any) -> str:
    payload = {"project_name": "my-project", "goal": "Add a slugify helper", "parameters": {}, **body}
    response = await app.client.post("/api/build/", headers=headers, json=payload)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "initializing"
    assert response.json()["message"] == "Build task created successfully"
    return str(response.json()["task_id"])


async def wait_build(
    app: RunningApp, headers: dict[str, str], task_id: str, states: set[str], timeout: float = 180
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        build = (await app.client.get(f"/api/build/{task_id}", headers=headers)).json()
        if build["status"] in states:
            return dict(build)
        await asyncio.sleep(0.05)
    raise AssertionError(f"build {task_id} never reached {states}")


def place_fixture(app: RunningApp, user_id: str, name: str) -> Path:
    target = projects_root(app.core) / user_id.replace("-", "") / name
    shutil.copytree(FIXTURE, target)
    return target


async def user_id_of(app: RunningApp, headers: dict[str, str]) -> str:
    workspace = (await app.client.post("/api/v1/workspaces", headers=headers, json={"name": "w"})).json()
    members = (await app.client.get(f"/api/v1/workspaces/{workspace['id']}/members", headers=headers)).json()
    return str(members["members"][0]["user_id"])


async def test_permission_matrix(app: RunningApp) -> None:
    alice = await user_headers(app, "alice")
    bob = await user_headers(app, "bob")
    viewer = await user_headers(app, "vera", ["viewer"])
    root = await admin(app)
    task = await create_build(app, alice)

    assert (await app.client.get(f"/api/build/{task}")).status_code == 401
    for headers, expected in ((alice, 200), (root, 200), (viewer, 200), (bob, 403)):
        response = await app.client.get(f"/api/build/{task}", headers=headers)
        assert response.status_code == expected, (expected, response.text)
    denied = await app.client.get(f"/api/build/{task}", headers=bob)
    assert set(denied.json()) == {"error", "detail", "status_code", "timestamp"}
    assert (
        await app.client.post("/api/build/", headers=viewer, json={"project_name": "v", "goal": "g"})
    ).status_code == 403
    assert (await app.client.delete(f"/api/build/{task}", headers=viewer)).status_code == 403
    assert (await app.client.delete(f"/api/build/{task}", headers=bob)).status_code == 403
    missing = await app.client.get("/api/build/00000000-0000-0000-0000-000000000000", headers=alice)
    assert missing.status_code == 404
    assert (await app.client.get("/api/build/not-a-uuid", headers=alice)).status_code == 404

    bobs = await create_build(app, bob, project_name="bobs")
    own = (await app.client.get("/api/build/?limit=10&offset=0", headers=alice)).json()
    assert own["total"] == 1
    assert [item["task_id"] for item in own["builds"]] == [task]
    assert own["builds"][0]["created_by"] == "alice"
    everything = (await app.client.get("/api/build/?limit=1&offset=0", headers=root)).json()
    assert everything["total"] == 2
    assert [item["task_id"] for item in everything["builds"]] == [bobs]  # newest first
    second = (await app.client.get("/api/build/?limit=1&offset=1", headers=viewer)).json()
    assert [item["task_id"] for item in second["builds"]] == [task]
    assert (await app.client.get("/api/build/?limit=101", headers=root)).status_code == 422
    # an admin may cancel anyone's build
    assert (await app.client.delete(f"/api/build/{bobs}", headers=root)).status_code == 200


@pytest.mark.parametrize(
    "name", ["../etc", "a/b", "a;rm -rf /", "$(whoami)", "x" * 65, ".hidden", "", "a b", "p|q", "..", "é"]
)
async def test_project_names_are_checked_before_anything_runs(app: RunningApp, name: str) -> None:
    alice = await user_headers(app, "alice")
    response = await app.client.post("/api/build/", headers=alice, json={"project_name": name, "goal": "x"})
    assert response.status_code == 400, response.text
    assert response.json()["status_code"] == 400
    analysis = await app.client.post("/api/analysis/", headers=alice, json={"project_name": name})
    assert analysis.status_code == 400
    history = (await app.client.get("/api/build/", headers=alice)).json()
    assert history["total"] == 0
    root = projects_root(app.core)
    assert not root.exists() or not any(root.iterdir())  # nothing touched the disk


async def test_malformed_requests_are_422(app: RunningApp) -> None:
    alice = await user_headers(app, "alice")
    for body in ({"project_name": "p"}, {"goal": "g"}, {"project_name": "p", "goal": "g", "parameters": [1]}):
        assert (await app.client.post("/api/build/", headers=alice, json=body)).status_code == 422
    bad_types = {"project_name": "p", "analysis_types": ["speed"]}
    assert (await app.client.post("/api/analysis/", headers=alice, json=bad_types)).status_code == 422


async def test_cancel_in_every_state(app: RunningApp, tmp_path: Path) -> None:
    alice = await user_headers(app, "alice")
    # concurrency 1: while the first build runs, the second waits in `initializing`
    running = await create_build(app, alice, project_name="first")
    waiting = await create_build(app, alice, project_name="second")
    await wait_build(app, alice, running, {"running"})
    assert (await app.client.get(f"/api/build/{waiting}", headers=alice)).json()["status"] == "initializing"
    for task_id in (waiting, running):
        cancelled = await app.client.delete(f"/api/build/{task_id}", headers=alice)
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json() == {"message": "Build task cancelled successfully"}
        assert (await app.client.get(f"/api/build/{task_id}", headers=alice)).json()["status"] == "cancelled"
        again = await app.client.delete(f"/api/build/{task_id}", headers=alice)
        assert again.status_code == 409
        assert again.json()["status_code"] == 409

    # failed: the repository to clone is not there (a closed local port, allow-listed for the test)
    closed = f"http://127.0.0.1:{free_port()}/repo.git"
    failing = await create_build(app, alice, project_name="cloned", parameters={"repository_url": closed})
    failed = await wait_build(app, alice, failing, {"failed", "completed"})
    assert failed["status"] == "failed"
    assert "git clone failed" in failed["error"]
    assert (await app.client.delete(f"/api/build/{failing}", headers=alice)).status_code == 409

    done = await create_build(app, alice, project_name="third")
    completed = await wait_build(app, alice, done, {"completed", "failed"})
    assert completed["status"] == "completed", completed
    assert (await app.client.delete(f"/api/build/{done}", headers=alice)).status_code == 409


async def test_analysis_finds_the_planted_issues(app: RunningApp) -> None:
    alice = await user_headers(app, "alice")
    bob = await user_headers(app, "bob")
    viewer = await user_headers(app, "vera", ["viewer"])
    place_fixture(app, await user_id_of(app, alice), "shop")
    missing = await app.client.post("/api/analysis/", headers=alice, json={"project_name": "nothing"})
    assert missing.status_code == 404
    # bob has no project of that name: projects are per user
    assert (
        await app.client.post("/api/analysis/", headers=bob, json={"project_name": "shop"})
    ).status_code == 404

    response = await app.client.post(
        "/api/analysis/",
        headers=alice,
        json={"project_name": "shop", "analysis_types": ["quality", "security", "types"]},
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "completed", body
    assert body["project_name"] == "shop"
    assert body["performed_by"] == "alice"
    assert body["timestamp"].endswith("Z")
    assert 0 <= body["quality_score"] <= 10
    sql = [issue for issue in body["security_issues"] if issue["test_id"] == "B608"]
    assert [(issue["file"], issue["line"], issue["issue"]) for issue in sql] == [
        ("app/db.py", 17, "SQL injection")
    ]
    assert "parameterized" in sql[0]["recommendation"]
    assert body["type_errors"] == 1
    assert body["details"]["type_error_details"][0]["file"] == "app/numbers.py"
    assert body["details"]["type_error_details"][0]["line"] == 5
    untested = [(f["name"], f["file"], f["line"]) for f in body["details"]["untested_functions"]]
    assert ("format_report", "app/util.py", 8) in untested
    assert body["code_smells"] >= 1
    assert 40 < body["coverage_percent"] < 90  # the fixture's own tests, run in a sandbox VM
    assert body["details"]["tests_passed"] >= 1
    assert any("app/db.py line 17" in line for line in body["recommendations"])

    analysis_id = body["analysis_id"]
    fetched = await app.client.get(f"/api/analysis/{analysis_id}", headers=alice)
    assert fetched.json()["security_issues"] == body["security_issues"]
    assert (await app.client.get(f"/api/analysis/{analysis_id}", headers=viewer)).status_code == 200
    assert (await app.client.get(f"/api/analysis/{analysis_id}", headers=bob)).status_code == 403
    assert (
        await app.client.post("/api/analysis/", headers=viewer, json={"project_name": "shop"})
    ).status_code == 403


async def test_analysis_rate_limit_is_five_a_minute(make_settings: SettingsFactory, start_app: Any) -> None:
    app: RunningApp = await start_app(make_settings())
    alice = await user_headers(app, "alice")
    statuses = [
        (await app.client.post("/api/analysis/", headers=alice, json={"project_name": "none"})).status_code
        for _ in range(6)
    ]
    assert statuses == [404] * 5 + [429]


async def test_build_end_to_end_through_the_websocket(
    make_settings: SettingsFactory, start_server: Any
) -> None:
    server: LiveServer = await start_server(make_settings(**FAST))
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as client:
        token = (await login_admin(client))["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        created = await client.post(
            "/api/build/",
            headers=headers,
            json={
                "project_name": "my-app",
                "goal": "Add user authentication",
                "parameters": {"framework": "fastapi", "include_tests": True},
            },
        )
        assert created.status_code == 202, created.text
        task_id = created.json()["task_id"]
        messages: list[dict[str, Any]] = []
        async with websockets.connect(f"{server.ws_url}/api/ws/build/{task_id}?token={token}") as ws:
            while not messages or messages[-1]["type"] not in ("completion", "error"):
                messages.append(json.loads(await asyncio.wait_for(ws.recv(), 120)))
        assert messages[0]["type"] == "connected"
        assert messages[0]["message"] == "Connected to build updates"
        progress = [m for m in messages if m["type"] == "progress"]
        steps = [m["data"].get("current_step") for m in progress]
        assert "Generating code" in steps
        assert "Running tests" in steps
        assert [m["progress"] for m in progress] == sorted(m["progress"] for m in progress)
        final = messages[-1]
        assert final["type"] == "completion", final
        results = final["results"]
        assert results["generated_files"]
        assert results["generated_files"][-1].startswith("tests/")
        assert isinstance(results["tests_passed"], int)
        assert results["test_coverage"] is None or 0 <= results["test_coverage"] <= 100
        assert results["model"] == "gemma3-270m"
        status = (await client.get(f"/api/build/{task_id}", headers=headers)).json()
        assert status["status"] == "completed"
        assert status["progress"] == 100
        assert status["results"] == results
    [project] = projects_root(server.app.state.core).glob("*/my-app")
    written = sorted(path.relative_to(project).as_posix() for path in project.rglob("*") if path.is_file())
    assert written == sorted(results["generated_files"])  # the tests ran in a VM: nothing else on the host
