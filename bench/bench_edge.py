"""Requests/s of Pentad's authenticated JSON endpoint against a bare FastAPI endpoint, in one run.

Both servers run as real uvicorn processes (one worker each) and are loaded by `wrk` over loopback
(installed with apt-get if missing). Rate limits are raised so the edge does all its work (request id,
headers, limiter hit, JWT verification, revocation and user lookups) without answering 429.

    .venv/bin/python bench/bench_edge.py [--seconds 10] [--connections 16]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-admin-password"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, capture_output=True)
        found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is needed: apt-get install wrk")
    return found


def run_wrk(wrk: str, url: str, seconds: int, connections: int, token: str | None) -> float:
    command = [wrk, "-t1", f"-c{connections}", f"-d{seconds}s", url]
    if token:
        command[1:1] = ["-H", f"Authorization: Bearer {token}"]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        raise RuntimeError(f"{url}: {non_2xx.group(1)} error responses during the run")
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not match:
        raise RuntimeError(output)
    return float(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    wrk = ensure_wrk()
    data_dir = Path(tempfile.mkdtemp(prefix="pentad-bench-"))
    env = {
        **os.environ,
        "PENTAD_SERVER__DATA_DIR": str(data_dir),
        "PENTAD_SECURITY__ADMIN_PASSWORD": PASSWORD,
        "PENTAD_LOGGING__LEVEL": "warning",
        "PENTAD_RATE_LIMITS__VSM": "100000000/hour",
        "PENTAD_RATE_LIMITS__ASSISTANT": "100000000/hour",
    }
    pentad_port, bare_port = free_port(), free_port()
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "pentad.cli", "serve", "--port", str(pentad_port)],
            env=env,
            cwd=data_dir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bare_app:app",
                "--port",
                str(bare_port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT / "bench",
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        pentad, bare = f"http://127.0.0.1:{pentad_port}", f"http://127.0.0.1:{bare_port}"
        wait_healthy(pentad)
        wait_healthy(bare)
        login = httpx.post(
            pentad + "/auth/login", json={"username": "admin", "password": PASSWORD}, timeout=10
        )
        token = login.json()["access_token"]
        results = {}
        for name, url, bearer in (
            ("bare FastAPI   GET /api/auth/permissions (no auth)", bare + "/api/auth/permissions", None),
            ("Pentad         GET /api/auth/permissions (JWT)", pentad + "/api/auth/permissions", token),
            ("bare FastAPI   GET /health", bare + "/health", None),
            ("Pentad         GET /health (edge, no auth)", pentad + "/health", None),
        ):
            run_wrk(wrk, url, 2, args.connections, bearer)  # warm-up
            results[name] = run_wrk(wrk, url, args.seconds, args.connections, bearer)
        print(
            f"wrk -t1 -c{args.connections} -d{args.seconds}s, one uvicorn worker per server, {os.cpu_count()} cores"
        )
        for name, rate in results.items():
            print(f"  {name:55s} {rate:9.0f} req/s")
        names = list(results)
        print(f"  authenticated endpoint / bare endpoint: {results[names[1]] / results[names[0]]:.2f}")
        print(f"  edge-only /health / bare /health:       {results[names[3]] / results[names[2]]:.2f}")
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
