"""Shared fixtures: settings on a real SQLite file or a fresh schema of the real PostgreSQL, an app with
its lifespan running, and an httpx client speaking ASGI to it. No mocks of our own code."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from pentad.app import create_app
from pentad.config import Settings
from tests.helpers import ADMIN_PASSWORD, POSTGRES_DSN, RunningApp, SettingsFactory


def _deep_update(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_update(merged[key], value)
        else:
            merged[key] = value
    return merged


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the packaged model is assembled: once per test session, not once per app."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture
async def make_settings(
    tmp_path: Path, model_dir: Path, request: pytest.FixtureRequest
) -> AsyncIterator[SettingsFactory]:
    """Build Settings for a test: `make_settings(backend="postgres", rate_limits={...})`."""
    schemas: list[str] = []

    def factory(backend: str = "sqlite", **overrides: Any) -> Settings:
        base: dict[str, Any] = {
            "server": {"data_dir": str(tmp_path / "data"), "environment": "test"},
            "security": {
                "jwt_secret": "test-secret-" + "x" * 40,
                "admin_password": ADMIN_PASSWORD,
                "admin_email": "admin@vsmphoenix.io",
            },
            "redis": {"key_prefix": f"pentad-test-{secrets.token_hex(4)}"},
            "llm": {"model_dir": str(model_dir)},
        }
        if backend == "postgres":
            schema = f"t_{secrets.token_hex(6)}"
            schemas.append(schema)
            base["database"] = {
                "url": POSTGRES_DSN.replace("postgresql://", "postgresql+asyncpg://"),
                "schema_name": schema,
            }
        return Settings(**_deep_update(base, overrides))

    yield factory
    if schemas:
        connection = await asyncpg.connect(POSTGRES_DSN)
        try:
            for schema in schemas:
                await connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        finally:
            await connection.close()


async def _create_schema(settings: Settings) -> None:
    if settings.database.schema_name:
        connection = await asyncpg.connect(POSTGRES_DSN)
        try:
            await connection.execute(f"CREATE SCHEMA IF NOT EXISTS {settings.database.schema_name}")
        finally:
            await connection.close()


@pytest.fixture
async def start_app() -> AsyncIterator[Callable[[Settings], Any]]:
    """Start apps (lifespan and all) for a test; every one is shut down at the end."""
    stack: list[Any] = []

    async def start(settings: Settings) -> RunningApp:
        await _create_schema(settings)
        app = create_app(settings)
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        stack.append(lifespan)
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")
        stack.append(client)
        return RunningApp(app, client)

    yield start
    for item in reversed(stack):
        if isinstance(item, httpx.AsyncClient):
            await item.aclose()
        else:
            await item.__aexit__(None, None, None)


@pytest.fixture
async def running(backend: str, make_settings: SettingsFactory, start_app: Any) -> RunningApp:
    """The app on each storage backend, with default settings."""
    return await start_app(make_settings(backend))  # type: ignore[no-any-return]


class LiveServer:
    def __init__(self, app: FastAPI, server: Any, task: Any, port: int) -> None:
        self.app = app
        self.server = server
        self.task = task
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"

    @property
    def core(self) -> Any:
        return self.app.state.core


@pytest.fixture
async def start_server() -> AsyncIterator[Callable[[Settings], Any]]:
    """A real uvicorn server on a free port, in this test's event loop (so the test can reach `core`)."""
    import asyncio

    import uvicorn

    from tests.helpers import free_port

    servers: list[LiveServer] = []

    async def start(settings: Settings) -> LiveServer:
        await _create_schema(settings)
        app = create_app(settings)
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        live = LiveServer(app, server, task, port)
        servers.append(live)
        return live

    yield start
    for live in reversed(servers):
        live.server.should_exit = True
        await live.task


@pytest.fixture
async def receiver() -> AsyncIterator[Any]:
    """A webhook receiver over real HTTP (see tests/receivers.py)."""
    from tests.receivers import Receiver

    receiving = Receiver()
    await receiving.start()
    yield receiving
    await receiving.stop()
