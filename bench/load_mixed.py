"""Mixed-traffic load, 60 s, against a real `pentad serve` on SQLite and on PostgreSQL + Redis.

Traffic (bench/locustfile.py): GoldRush event submits (10), CRM deal lists (6), task polls (6), short
chats on the bundled model (1), plus WebSocket subscribers of spec 000's socket receiving the matches.
Rate limits are raised above the offered load, so any error is a defect, not a 429.

    make load            # installs the `load` extra, then runs this
    .venv/bin/python bench/load_mixed.py [--users 40] [--subscribers 5] [--seconds 60] [--only sqlite]
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_DSN = os.environ.get("PENTAD_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("PENTAD_TEST_REDIS", "redis://127.0.0.1:6379/0")
PASSWORD = "load-admin-password"
HIGH = "1000000/minute"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(data_dir: Path, extra: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("PENTAD_")}
    env.update(
        PENTAD_SERVER__DATA_DIR=str(data_dir),
        PENTAD_SECURITY__JWT_SECRET="load-" + "k" * 40,
        PENTAD_SECURITY__ADMIN_PASSWORD=PASSWORD,
        PENTAD_LOGGING__LEVEL="warning",
        **{
            f"PENTAD_RATE_LIMITS__{name.upper()}": HIGH
            for name in ("vsm", "assistant", "crm", "gateway", "builds")
        },
        **extra,
    )
    log = (data_dir.parent / "server.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "pentad.cli", "serve", "--port", str(port)], env=env, stdout=log, stderr=log
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start: " + (data_dir.parent / "server.log").read_text())


def seed(url: str) -> dict[str, str]:
    with httpx.Client(base_url=url, timeout=120) as client:
        token = client.post("/auth/login", json={"username": "admin", "password": PASSWORD}).json()[
            "access_token"
        ]
        headers = {"Authorization": f"Bearer {token}"}
        client.post(
            "/api/goldrush/patterns",
            headers=headers,
            json={
                "name": "hot",
                "pattern": "metric.type == 'cpu' && metric.value > 90",
                "actions": ["send_alert"],
            },
        )
        workspace = client.post("/api/v1/workspaces", headers=headers, json={"name": "Load"}).json()["id"]
        for index in range(200):
            stage = ["lead", "qualified", "proposal", "negotiation"][index % 4]
            client.post(
                f"/api/v1/workspaces/{workspace}/deals",
                headers=headers,
                json={"title": f"Deal {index}", "value": 1000 + index, "stage": stage},
            )
        task = client.post("/api/v1/vms", headers=headers, json={"name": "load-vm"}).json()["task_id"]
        client.post(
            "/v1/chat", headers=headers, json={"message": "warm up", "max_tokens": 2}
        )  # load the model
    return {"PENTAD_LOAD_TOKEN": token, "PENTAD_LOAD_WORKSPACE": workspace, "PENTAD_LOAD_TASK": task}


def run_locust(
    url: str, seed_env: dict[str, str], users: int, subscribers: int, seconds: int, out: Path
) -> None:
    env = {**os.environ, **seed_env}
    subprocess.run(
        [
            str(Path(sys.executable).with_name("locust")),
            "-f",
            str(ROOT / "bench" / "locustfile.py"),
            "--headless",
            "--host",
            url,
            "--users",
            str(users + subscribers),
            "--spawn-rate",
            str(users + subscribers),
            "--run-time",
            f"{seconds}s",
            "--csv",
            str(out),
            "--only-summary",
            "--loglevel",
            "WARNING",
            "--exit-code-on-error",
            "0",
        ],
        env=env,
        check=True,
        cwd=ROOT,
    )


def report(label: str, out: Path, seconds: int) -> dict[str, Any]:
    rows = list(csv.DictReader((out.parent / f"{out.name}_stats.csv").open()))
    http = [row for row in rows if row["Type"] not in ("WS", "") and row["Name"] != "Aggregated"]
    sockets = [row for row in rows if row["Type"] == "WS"]
    total = sum(int(row["Request Count"]) for row in http)
    failures = sum(int(row["Failure Count"]) for row in http)
    print(f"\n== {label}: {total / seconds:,.0f} HTTP requests/s, errors {failures}/{total}")
    print(f"{'endpoint':<40} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for row in http:
        print(
            f"{row['Type'] + ' ' + row['Name']:<40} {float(row['Requests/s']):>8.1f} "
            f"{row['50%']:>8} {row['99%']:>8} {row['Failure Count']:>7}"
        )
    if sockets:
        print(
            f"WebSocket messages received: {sockets[0]['Request Count']} ({sockets[0]['Failure Count']} drops)"
        )
    return {"rps": total / seconds, "errors": failures, "total": total}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--subscribers", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    setups: dict[str, dict[str, str]] = {"sqlite": {}}
    schema = f"load_{secrets.token_hex(4)}"
    setups["postgres"] = {
        "PENTAD_DATABASE__URL": POSTGRES_DSN.replace("postgresql://", "postgresql+asyncpg://"),
        "PENTAD_DATABASE__SCHEMA_NAME": schema,
        "PENTAD_REDIS__URL": REDIS_URL,
        "PENTAD_REDIS__KEY_PREFIX": f"pentad-load-{schema}:",
        "PENTAD_BUS__BACKEND": "redis",
        "PENTAD_RATE_LIMITS__STORAGE": "redis",
    }
    import asyncio

    async def schema_ddl(statement: str) -> None:
        connection = await asyncpg.connect(POSTGRES_DSN)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    for label, extra in setups.items():
        if args.only and label != args.only:
            continue
        if label == "postgres":
            asyncio.run(schema_ddl(f"CREATE SCHEMA {schema}"))
        with tempfile.TemporaryDirectory() as directory:
            data_dir = Path(directory) / "data"
            data_dir.mkdir()
            process, url = start_server(data_dir, extra)
            try:
                seeded = seed(url)
                run_locust(
                    url, seeded, args.users, args.subscribers, args.seconds, Path(directory) / "locust"
                )
                report(
                    "SQLite" if label == "sqlite" else "PostgreSQL + Redis",
                    Path(directory) / "locust",
                    args.seconds,
                )
            finally:
                process.terminate()
                process.wait(timeout=30)
        if label == "postgres":
            asyncio.run(schema_ddl(f"DROP SCHEMA {schema} CASCADE"))


if __name__ == "__main__":
    main()
