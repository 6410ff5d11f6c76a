"""Real-time endpoints against a live uvicorn server: spec 004 build progress, spec 000 subscriptions,
spec 002 `/ws`, spec 003 task status and its SSE stream, and two nodes sharing one Redis bus."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from pentad.core import channels
from tests.conftest import LiveServer
from tests.helpers import ADMIN_PASSWORD, REDIS_URL, SettingsFactory

JOBS = {"extra_modules": ["tests.fixtures.core_jobs"], "heartbeat_seconds": 0.2, "poll_seconds": 0.1}


async def token_for(server: LiveServer, username: str = "admin", password: str = ADMIN_PASSWORD) -> str:
    async with httpx.AsyncClient(base_url=server.url) as client:
        response = await client.post("/auth/login", json={"username": username, "password": password})
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


async def submit(
    server: LiveServer, job_type: str, payload: dict[str, Any], owner: str = "admin"
) -> uuid.UUID:
    core = server.core
    async with core.db.transaction() as session:
        user = await core.identity.find_user(session, owner)
        job = await core.jobs.submit(session, job_type, payload, owner_id=user.id)
        return job.id  # type: ignore[no-any-return]


async def receive(ws: Any, timeout: float = 10) -> dict[str, Any]:
    return dict(json.loads(await asyncio.wait_for(ws.recv(), timeout)))


@pytest.fixture
async def server(make_settings: SettingsFactory, start_server: Any) -> LiveServer:
    return await start_server(make_settings(jobs=JOBS, bus={"metrics_interval_seconds": 0.2}))  # type: ignore[no-any-return]


async def test_build_progress_arrives_in_order_over_websocket(server: LiveServer) -> None:
    token = await token_for(server)
    job_id = await submit(server, "build:fixture", {"count": 5, "delay": 0.15})
    async with websockets.connect(f"{server.ws_url}/api/ws/build/{job_id}?token={token}") as ws:
        connected = await receive(ws)
        assert connected["type"] == "connected"
        assert connected["task_id"] == str(job_id)
        assert connected["message"] == "Connected to build updates"
        seen: list[dict[str, Any]] = []
        while True:
            message = await receive(ws)
            seen.append(message)
            if message["type"] != "progress":
                break
        progress = [m["progress"] for m in seen if m["type"] == "progress"]
        assert progress == sorted(progress)
        assert progress[-1] == 100
        running = [m for m in seen if m["type"] == "progress" and m["progress"] > 0]
        assert running[-1]["data"] == {"current_step": "step 5", "files_created": 5}
        assert {m["status"] for m in running} == {"running"}
        final = seen[-1]
        assert final["type"] == "completion"
        assert final["status"] == "completed"
        assert final["results"] == {"steps": 5}
        assert final["timestamp"].endswith("Z")
    # a client that reconnects gets the current state first
    async with websockets.connect(f"{server.ws_url}/api/ws/build/{job_id}?token={token}") as ws:
        assert (await receive(ws))["type"] == "connected"
        again = await receive(ws)
        assert again["type"] == "completion"
        with pytest.raises(ConnectionClosed):
            await receive(ws)


async def test_build_websocket_refuses_bad_token_and_foreign_tasks(server: LiveServer) -> None:
    job_id = await submit(server, "build:fixture", {"count": 1})
    async with websockets.connect(f"{server.ws_url}/api/ws/build/{job_id}?token=not-a-token") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    async with server.core.db.transaction() as session:
        await server.core.identity.create_user(
            session, email="bob@example.com", username="bob", password="bob-password", roles=["user"]
        )
    bob = await token_for(server, "bob", "bob-password")
    async with websockets.connect(f"{server.ws_url}/api/ws/build/{job_id}?token={bob}") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008
    # an analysis socket does not relay a build
    admin = await token_for(server)
    async with websockets.connect(f"{server.ws_url}/api/ws/analysis/{job_id}?token={admin}") as ws:
        with pytest.raises(ConnectionClosed):
            await receive(ws)


async def test_failed_build_streams_the_documented_error(server: LiveServer) -> None:
    token = await token_for(server)
    job_id = await submit(server, "build:fixture", {"count": 50, "delay": 0.05})
    async with websockets.connect(f"{server.ws_url}/api/ws/build/{job_id}?token={token}") as ws:
        assert (await receive(ws))["type"] == "connected"
        await receive(ws)
        async with server.core.db.transaction() as session:
            await server.core.jobs.cancel(session, await server.core.jobs.get(session, job_id))
        message = await receive(ws)
        while message["type"] == "progress":
            message = await receive(ws)
        assert message == {
            "type": "error",
            "task_id": str(job_id),
            "status": "cancelled",
            "timestamp": message["timestamp"],
            "error": "Task was cancelled",
        }


async def test_spec000_subscription_delivers_filtered_events(server: LiveServer) -> None:
    token = await token_for(server)
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as client:
        response = await client.post(
            "/api/ws/subscribe",
            json={
                "channels": ["vsm.alerts", "system.metrics", "agent.events", "goldrush.matches"],
                "filters": {"severity": ["high", "critical"], "systems": ["s1", "s3", "s5"]},
            },
        )
        assert response.status_code == 200, response.text
        body = response.json()
        bad = await client.post("/api/ws/subscribe", json={"channels": ["nope"]})
        assert bad.status_code == 422
    assert body["subscription_id"].startswith("sub_")
    assert body["channels"] == ["vsm.alerts", "system.metrics", "agent.events", "goldrush.matches"]
    assert body["ws_url"].startswith(f"{server.ws_url}/socket/websocket?token=")
    async with websockets.connect(body["ws_url"]) as ws:
        assert (await receive(ws))["type"] == "connected"
        await ws.send(json.dumps({"type": "authenticate", "subscription_id": body["subscription_id"]}))
        authenticated = await receive(ws)
        assert authenticated["type"] == "authenticated"
        bus = server.core.bus
        await bus.publish(channels.VSM_ALERTS, "vsm.alert", {"id": "a1", "severity": "low", "system": "s3"})
        await bus.publish(channels.VSM_ALERTS, "vsm.alert", {"id": "a2", "severity": "high", "system": "s2"})
        await bus.publish(
            channels.VSM_ALERTS,
            "vsm.alert",
            {"id": "alert_123", "severity": "high", "system": "s3", "message": "Audit discrepancy detected"},
        )
        alert = await receive(ws)
        while alert["type"] != "vsm.alert":
            alert = await receive(ws)
        assert alert["payload"]["id"] == "alert_123"
        # the periodic publisher's real system metrics arrive too
        metric = await receive(ws)
        while metric["type"] != "system.metric":
            metric = await receive(ws)
        assert metric["payload"]["system"] == "s1"
        assert set(metric["payload"]["metrics"]) == {"cpu", "memory", "operations_per_second", "queue_depth"}
        await ws.send(json.dumps({"type": "ping"}))
        reply = await receive(ws)
        while reply["type"] != "pong":
            reply = await receive(ws)


async def test_spec000_socket_refuses_bad_ticket(server: LiveServer) -> None:
    async with websockets.connect(f"{server.ws_url}/socket/websocket?token=wst_forged") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await receive(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1008


async def test_spec002_ws_relays_events(server: LiveServer) -> None:
    token = await token_for(server)
    async with websockets.connect(f"{server.ws_url}/ws?token={token}") as ws:
        hello = await receive(ws)
        user_id = hello["data"]["user_id"]
        await server.core.bus.publish(
            channels.user(user_id),
            "integration.synced",
            {"integration_id": "i1", "status": "success", "records_synced": 42},
        )
        event = await receive(ws)
        assert event == {
            "event": "integration.synced",
            "data": {"integration_id": "i1", "status": "success", "records_synced": 42},
        }


async def test_spec003_task_status_and_sse(server: LiveServer) -> None:
    token = await token_for(server)
    job_id = await submit(server, "test:steps", {"count": 3, "delay": 0.1})
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as client:
        bad = await client.get("/api/v1/tasks/not-a-uuid")
        assert bad.status_code == 400
        assert bad.json() == {
            "error": "Bad Request",
            "message": "Invalid task ID: not a valid UUID",
            "code": 400,
        }
        missing = await client.get(f"/api/v1/tasks/{uuid.uuid4()}")
        assert missing.status_code == 404
        events: list[tuple[str, dict[str, Any]]] = []
        async with client.stream("GET", f"/api/v1/tasks/{job_id}/events") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            name = ""
            async for line in stream.aiter_lines():
                if line.startswith("event:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    events.append((name, json.loads(line.split(":", 1)[1])))
        assert events[0][0] == "state"
        assert events[-1][0] == "completion"
        task = (await client.get(f"/api/v1/tasks/{job_id}")).json()
    assert task["id"] == str(job_id)
    assert task["type"] == "test:steps"
    assert task["status"] == "completed"
    assert task["result"] == {"steps": 3}
    assert task["created_at"].endswith("Z")
    async with httpx.AsyncClient(base_url=server.url) as anonymous:
        assert (await anonymous.get(f"/api/v1/tasks/{job_id}")).status_code == 401


@pytest.mark.redis
async def test_websocket_on_node_a_sees_event_published_on_node_b(
    make_settings: SettingsFactory, start_server: Any
) -> None:
    settings = make_settings("sqlite", bus={"backend": "redis"}, redis={"url": REDIS_URL}, jobs=JOBS)
    node_a: LiveServer = await start_server(settings)
    node_b: LiveServer = await start_server(settings)
    token = await token_for(node_a)
    async with websockets.connect(f"{node_a.ws_url}/ws?token={token}") as ws:
        user_id = (await receive(ws))["data"]["user_id"]
        await asyncio.sleep(0.2)
        await node_b.core.bus.publish(channels.user(user_id), "deal.created", {"deal_id": "d1"})
        assert await receive(ws, timeout=5) == {"event": "deal.created", "data": {"deal_id": "d1"}}
    # a job submitted on node B is streamed to a client of node A
    job_id = await submit(node_b, "build:fixture", {"count": 3, "delay": 0.2})
    async with websockets.connect(f"{node_a.ws_url}/api/ws/build/{job_id}?token={token}") as ws:
        types = []
        while not types or types[-1] not in ("completion", "error"):
            types.append((await receive(ws))["type"])
        assert types[-1] == "completion"


async def test_spec003_cancel_task_and_409_when_finished(server: LiveServer) -> None:
    token = await token_for(server)
    running = await submit(server, "test:steps", {"count": 100, "delay": 0.05})
    finished = await submit(server, "test:steps", {"count": 1})
    async with httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as client:
        for _ in range(100):
            if (await client.get(f"/api/v1/tasks/{finished}")).json()["status"] == "completed":
                break
            await asyncio.sleep(0.05)
        cancelled = await client.delete(f"/api/v1/tasks/{running}")
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        assert (await client.get(f"/api/v1/tasks/{running}")).json()["status"] == "cancelled"
        refused = await client.delete(f"/api/v1/tasks/{finished}")
        assert refused.status_code == 409
        assert refused.json() == {
            "error": "Conflict",
            "message": "A job that is completed cannot become cancelled",
            "code": 409,
        }
        again = await client.delete(f"/api/v1/tasks/{running}")
        assert again.status_code == 409
