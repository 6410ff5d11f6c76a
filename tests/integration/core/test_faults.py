"""Faults in the services Pentad depends on, as documented in docs/operations.md:

- Redis (rate limits, bus, GoldRush windows) stops: readiness reports it, requests keep being answered
  (limits fail open, the bus delivers locally, windows that live in Redis refuse with 503), and all of
  it recovers by itself when Redis returns. A private redis-server is used, so the shared one is
  never disturbed.
- PostgreSQL drops every connection (what a restart does to a pool): the next requests succeed.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.helpers import POSTGRES_DSN, RunningApp, SettingsFactory, free_port, login_admin


class PrivateRedis:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = subprocess.run(
                ["redis-cli", "-p", str(self.port), "ping"], capture_output=True, text=True, check=False
            )
            if probe.stdout.strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.kill()


@pytest.mark.redis
async def test_redis_outage_degrades_then_recovers(
    private_redis: PrivateRedis, make_settings: SettingsFactory, start_app: Any
) -> None:
    settings = make_settings(
        redis={"url": private_redis.url},
        bus={"backend": "redis"},
        rate_limits={"storage": "redis"},
    )
    app: RunningApp = await start_app(settings)
    headers = {"Authorization": f"Bearer {(await login_admin(app.client))['access_token']}"}
    pattern = {"name": "p", "pattern": "type == 'x'", "actions": ["send_alert"]}
    assert (await app.client.post("/api/goldrush/patterns", headers=headers, json=pattern)).status_code == 201
    windowed = {"name": "w", "pattern": "type == 'y' && count() > 100 within 1m", "actions": []}
    assert (
        await app.client.post("/api/goldrush/patterns", headers=headers, json=windowed)
    ).status_code == 201

    async def health_of_cache() -> Any:
        status = (await app.client.get("/api/health/status")).json()
        return status["components"]["cache"]

    assert await health_of_cache() == "healthy"
    private_redis.kill()

    assert await health_of_cache() == "unhealthy"
    ready = await app.client.get("/ready")
    assert ready.json()["cache"]["healthy"] is False  # said, without pulling the node out of service
    statuses = []
    for _ in range(20):
        statuses.append((await app.client.get("/api/vsm/status", headers=headers)).status_code)
        statuses.append((await app.client.get("/api/goldrush/patterns", headers=headers)).status_code)
        event = await app.client.post("/api/goldrush/events", headers=headers, json={"type": "x"})
        statuses.append(event.status_code)
    assert set(statuses) == {200}  # limits fail open, the bus delivers locally
    unlimited = await app.client.get("/api/goldrush/patterns", headers=headers)
    assert "x-ratelimit-limit" not in unlimited.headers
    counted = await app.client.post("/api/goldrush/events", headers=headers, json={"type": "y"})
    assert counted.status_code == 503  # a window that lives in Redis cannot be counted honestly
    assert counted.json()["error"]["code"] == "SERVICE_UNAVAILABLE"

    private_redis.start()
    deadline = time.monotonic() + 15
    while await health_of_cache() != "healthy":
        assert time.monotonic() < deadline, "cache did not recover"
        await asyncio.sleep(0.2)
    again = await app.client.post("/api/goldrush/events", headers=headers, json={"type": "y"})
    assert again.status_code == 200
    limited = await app.client.get("/api/goldrush/patterns", headers=headers)
    assert limited.headers["x-ratelimit-limit"] == "100"  # counting again (the tighter per-minute limit)


@pytest.mark.postgres
async def test_postgres_connections_dropped_then_pool_recovers(
    make_settings: SettingsFactory, start_app: Any
) -> None:
    settings = make_settings("postgres")
    app: RunningApp = await start_app(settings)
    headers = {"Authorization": f"Bearer {(await login_admin(app.client))['access_token']}"}
    assert (await app.client.get("/api/goldrush/patterns", headers=headers)).status_code == 200
    connection = await asyncpg.connect(POSTGRES_DSN)
    try:
        killed = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1",
            f"pentad:{settings.database.schema_name}",
        )
    finally:
        await connection.close()
    assert killed >= 1
    statuses = [
        (await app.client.get("/api/goldrush/patterns", headers=headers)).status_code for _ in range(5)
    ]
    assert statuses == [200] * 5
