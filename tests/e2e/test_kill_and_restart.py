"""`kill -9` of a `pentad serve` process (in-process job runner, SQLite) while jobs run, then a restart on
the same data: every job ends completed or failed with a reason, none is left running, and the killed
server's sandboxed commands did not outlive it."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.e2e.test_server_and_cli import Server

ADMIN_PASSWORD = "kill-restart-admin-password"
ENV = {
    "PENTAD_SECURITY__ADMIN_PASSWORD": ADMIN_PASSWORD,
    "PENTAD_RATE_LIMITS__ENABLED": "false",
    "PENTAD_JOBS__HEARTBEAT_SECONDS": "0.5",
}
MARKER = "31337.25"  # an unusual sleep length, to find the sandboxed processes afterwards


def _login(url: str) -> dict[str, str]:
    response = httpx.post(f"{url}/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _task(url: str, headers: dict[str, str], task_id: str) -> dict[str, object]:
    return dict(httpx.get(f"{url}/api/v1/tasks/{task_id}", headers=headers).json())


def _wait(
    url: str, headers: dict[str, str], task_id: str, states: set[str], timeout: float = 60
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = _task(url, headers, task_id)
        if task["status"] in states:
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} never reached {states}: {task}")


def _sleepers() -> list[int]:
    found = subprocess.run(["pgrep", "-f", f"^sleep {MARKER}$"], capture_output=True, text=True, check=False)
    return [int(pid) for pid in found.stdout.split()]


def test_jobs_end_with_a_reason_after_kill_9_and_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    first = Server(data_dir, **ENV)
    headers = _login(first.url)
    created = httpx.post(f"{first.url}/api/v1/vms", headers=headers, json={"name": "victim"}).json()
    vm_id = _wait(first.url, headers, created["task_id"], {"completed"})["result"]["vm_id"]  # type: ignore[index]
    running = []
    for _ in range(2):
        accepted = httpx.post(
            f"{first.url}/api/v1/vms/{vm_id}/execute",
            headers=headers,
            json={"command": "sleep", "args": [MARKER]},
        )
        assert accepted.status_code == 202, accepted.text
        running.append(accepted.json()["task_id"])
    for task_id in running:
        _wait(first.url, headers, task_id, {"running"})
    deadline = time.monotonic() + 10
    while len(_sleepers()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(_sleepers()) == 2

    os.kill(first.process.pid, signal.SIGKILL)
    first.process.wait(timeout=10)
    first.stop()

    second = Server(data_dir, **ENV)
    try:
        headers = _login(second.url)  # the JWT secret persisted in the data dir; a fresh login anyway
        for task_id in running:
            task = _wait(second.url, headers, task_id, {"completed", "failed", "cancelled"})
            assert task["status"] == "failed", task
            assert "interrupted" in str(task["error"]), task
        deadline = time.monotonic() + 10
        while _sleepers() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _sleepers() == []  # the sandbox died with its server
        again = httpx.post(
            f"{second.url}/api/v1/vms/{vm_id}/execute",
            headers=headers,
            json={"command": "echo", "args": ["alive"]},
        )
        done = _wait(second.url, headers, again.json()["task_id"], {"completed", "failed"})
        assert done["status"] == "completed", done
        assert done["result"]["stdout"] == "alive\n"  # type: ignore[index]
    finally:
        second.stop()
