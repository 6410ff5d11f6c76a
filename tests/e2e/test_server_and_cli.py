"""End to end: `pentad serve` as a real process on a free port, driven over HTTP, plus the CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.helpers import free_port

PENTAD = [sys.executable, "-m", "pentad.cli"]


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PENTAD_")}
    env.update(PENTAD_SERVER__DATA_DIR=str(data_dir), PENTAD_SECURITY__JWT_SECRET="e2e-secret-" + "z" * 40)
    env.update(extra)
    return env


class Server:
    def __init__(self, data_dir: Path, **extra_env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # a file, not a pipe: a busy server would block once an unread pipe fills up
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [*PENTAD, "serve", "--port", str(self.port)],
            env=_env(data_dir, **extra_env),
            cwd=data_dir.parent,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("server exited: " + self.log_path.read_text())
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise RuntimeError("server did not become healthy")

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(timeout=30)
        self._log.close()
        return self.log_path.read_text()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def test_first_start_prints_generated_admin_password_once(data_dir: Path) -> None:
    server = Server(data_dir)
    first_err = server.stop()
    match = re.search(r"Generated password \(shown once\): (\S+)", first_err)
    assert match, first_err
    password = match.group(1)
    again = Server(data_dir)
    try:
        login = httpx.post(
            again.url + "/auth/login", json={"username": "admin", "password": password}, timeout=10
        )
        assert login.status_code == 200
    finally:
        second_err = again.stop()
    assert "Generated password" not in second_err
    assert password not in second_err


def test_cli_user_and_api_key_lifecycle_against_live_server(data_dir: Path) -> None:
    env = _env(data_dir, PENTAD_SECURITY__ADMIN_PASSWORD="admin-pass-e2e")
    run = lambda *args: subprocess.run(  # noqa: E731
        [*PENTAD, *args],
        env=env,
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    migrated = run("migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert "database at revision" in migrated.stdout
    created = run(
        "user",
        "create",
        "--email",
        "alice@example.com",
        "--username",
        "alice",
        "--role",
        "user",
        "--password",
        "alice-password",
    )
    assert created.returncode == 0, created.stderr
    duplicate = run(
        "user",
        "create",
        "--email",
        "alice@example.com",
        "--username",
        "alice2",
        "--password",
        "alice-password",
    )
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr
    assert "Traceback" not in duplicate.stderr
    listed = run("user", "list")
    assert "alice" in listed.stdout
    key_result = run("apikey", "create", "--user", "alice", "--name", "laptop")
    assert key_result.returncode == 0, key_result.stderr
    key = key_result.stdout.strip()
    assert key.startswith("sk-")
    assert key not in run("apikey", "list").stdout

    server = Server(data_dir, PENTAD_SECURITY__ADMIN_PASSWORD="admin-pass-e2e")
    try:
        for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
            response = httpx.get(server.url + "/api/auth/permissions", headers=headers, timeout=10)
            assert response.status_code == 200
            assert response.json()["roles"] == ["user"]
        login = httpx.post(
            server.url + "/auth/login", json={"username": "alice", "password": "alice-password"}
        )
        assert login.status_code == 200
        revoked = run("apikey", "revoke", key[:10])
        assert revoked.returncode == 0, revoked.stderr
        # revoked by another process: the server's credential cache (2 s) lets it through at most that long
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            after = httpx.get(server.url + "/api/auth/permissions", headers={"X-API-Key": key}, timeout=10)
            if after.status_code == 401:
                break
            time.sleep(0.25)
        assert after.status_code == 401
    finally:
        log = server.stop()
    assert key not in log
    assert "alice-password" not in log


def test_openapi_command_writes_the_document(data_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "openapi.json"
    result = subprocess.run(
        [*PENTAD, "openapi", "--output", str(output)],
        env=_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(output.read_text())
    assert document["openapi"].startswith("3.1")
    assert "/api/auth/login" in document["paths"]
