"""Constants and small helpers shared by the tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI

from pentad.config import Settings

POSTGRES_DSN = os.environ.get("PENTAD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PENTAD_TEST_REDIS", "redis://127.0.0.1:6379/0")
ADMIN_PASSWORD = "admin-password-123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


SettingsFactory = Callable[..., Settings]


class RunningApp:
    def __init__(self, app: FastAPI, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client

    @property
    def core(self) -> Any:
        return self.app.state.core


async def login_admin(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post(
        "/api/auth/login", json={"email": "admin@vsmphoenix.io", "password": ADMIN_PASSWORD}
    )
    assert response.status_code == 200, response.text
    return dict(response.json())
