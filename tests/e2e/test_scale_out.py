"""The docker-compose topology without Docker: two `pentad serve` nodes and one `pentad worker` on the real
PostgreSQL and Redis. A job submitted on node A runs on the worker, is visible on node B, and its log
lines stream live to a WebSocket client of node B; a GoldRush window is shared by both nodes."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import websockets

from tests.e2e.test_server_and_cli import PENTAD, Server, _env
from tests.helpers import POSTGRES_DSN, REDIS_URL

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]
ADMIN_PASSWORD = "scale-out-admin-password"


@pytest.fixture
async def schema() -> AsyncIterator[str]:
    name = f"scale_{secrets.token_hex(5)}"
    connection = await asyncpg.connect(POSTGRES_DSN)
    await connection.execute(f"CREATE SCHEMA {name}")
    yield name
    await connection.execute(f"DROP SCHEMA {name} CASCADE")
    await connection.close()


@pytest.fixture
def topology(tmp_path: Path, schema: str) -> Iterator[tuple[Server, Server, int]]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shared = {
        "PENTAD_DATABASE__URL": POSTGRES_DSN.replace("postgresql://", "postgresql+asyncpg://"),
        "PENTAD_DATABASE__SCHEMA_NAME": schema,
        "PENTAD_REDIS__URL": REDIS_URL,
        "PENTAD_REDIS__KEY_PREFIX": f"pentad-scale-{secrets.token_hex(4)}:",
        "PENTAD_BUS__BACKEND": "redis",
        "PENTAD_JOBS__RUNNER": "celery",
        "PENTAD_JOBS__CELERY_QUEUE": f"pentad-scale-{secrets.token_hex(4)}",
        "PENTAD_SECURITY__ADMIN_PASSWORD": ADMIN_PASSWORD,
        "PENTAD_RATE_LIMITS__ENABLED": "false",
    }
    node_a = Server(data_dir, **shared)  # migrates the schema; the others start on it
    later = {**shared, "PENTAD_DATABASE__MIGRATE_ON_START": "false"}
    node_b = Server(data_dir, **later)
    worker = subprocess.Popen(
        [*PENTAD, "worker", "--concurrency", "1", "--loglevel", "warning"],
        env=_env(data_dir, **later),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield node_a, node_b, worker.pid
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        node_b.stop()
        node_a.stop()


async def _token(client: httpx.AsyncClient) -> str:
    response = await client.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def _finished(client: httpx.AsyncClient, headers: dict[str, str], task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        task = (await client.get(f"/api/v1/tasks/{task_id}", headers=headers)).json()
        if task["status"] in ("completed", "failed", "cancelled"):
            return dict(task)
        await asyncio.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish")


async def test_job_on_node_a_runs_on_the_worker_and_streams_on_node_b(
    topology: tuple[Server, Server, int], schema: str
) -> None:
    node_a, node_b, worker_pid = topology
    async with httpx.AsyncClient(base_url=node_a.url) as a, httpx.AsyncClient(base_url=node_b.url) as b:
        token = await _token(a)
        headers = {"Authorization": f"Bearer {token}"}  # a token from node A is valid on node B
        created = await a.post("/api/v1/vms", headers=headers, json={"name": "shared-vm"})
        assert created.status_code == 202, created.text
        task = await _finished(b, headers, created.json()["task_id"])
        assert task["status"] == "completed", task.get("error")
        vm_id = task["result"]["vm_id"]

        ws_url = node_b.url.replace("http://", "ws://")
        async with websockets.connect(f"{ws_url}/api/v1/logs/stream?vm_id={vm_id}&token={token}") as stream:
            await asyncio.sleep(0.2)
            executed = await a.post(
                f"/api/v1/vms/{vm_id}/execute",
                headers=headers,
                json={"command": "sh", "args": ["-c", "echo from-node-a"]},
            )
            assert executed.status_code == 202, executed.text
            lines: list[str] = []
            while "from-node-a" not in lines:
                message = json.loads(await asyncio.wait_for(stream.recv(), 30))
                lines.append(message["message"])
        run = await _finished(b, headers, executed.json()["task_id"])
        assert run["status"] == "completed", run
        executions = (await b.get(f"/api/v1/vms/{vm_id}/executions", headers=headers)).json()
        assert [execution["stdout"] for execution in executions["executions"]] == ["from-node-a\n"]
    # the jobs ran in the worker, which names itself host:pid, not in either API node
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        workers = await connection.fetch(f"SELECT DISTINCT worker FROM {schema}.jobs")  # noqa: S608 (our own schema name)
    finally:
        await connection.close()
    [(name,)] = [tuple(row) for row in workers]
    host, pid = name.rsplit(":", 1)
    assert host == socket.gethostname()
    # a Celery pool process: its parent is the `pentad worker` process
    parent = next(
        line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("PPid")
    )
    assert int(parent.split()[1]) == worker_pid


async def test_goldrush_window_is_shared_by_both_nodes(topology: tuple[Server, Server, int]) -> None:
    node_a, node_b, _worker = topology
    async with httpx.AsyncClient(base_url=node_a.url) as a, httpx.AsyncClient(base_url=node_b.url) as b:
        headers = {"Authorization": f"Bearer {await _token(a)}"}
        pattern = {
            "name": "burst",
            "pattern": "event.type == 'error' && count() > 3 within 1m",
            "actions": ["send_alert"],
        }
        assert (await a.post("/api/goldrush/patterns", headers=headers, json=pattern)).status_code == 201
        matched = []
        for attempt in range(4):
            client = a if attempt % 2 else b
            response = await client.post("/api/goldrush/events", headers=headers, json={"type": "error"})
            matched.append(response.json()["matched_patterns"])
        assert matched == [[], [], [], ["burst"]]
