"""CRM latency at scale: deals list and analytics over 100,000 deals, on SQLite and PostgreSQL, one run.

Each backend gets the demo data set (`pentad demo crm`'s generator) and the requests go through the
whole app in-process (httpx ASGI transport: edge, auth, tenancy check, query, serialisation).

    .venv/bin/python bench/bench_crm.py [--deals 100000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pentad.app import create_app  # noqa: E402
from pentad.config import Settings  # noqa: E402
from pentad.surfaces.crm.demo import seed_crm  # noqa: E402

POSTGRES = os.environ.get("PENTAD_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
PASSWORD = "bench-admin-password"


def percentile(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-q * len(ordered) // 100) - 1))]


async def measure(settings: Settings, deals: int, repeat: int) -> dict[str, tuple[float, float]]:
    app = create_app(settings)
    results: dict[str, tuple[float, float]] = {}
    async with app.router.lifespan_context(app):
        core = app.state.core
        started = time.perf_counter()
        async with core.db.transaction() as session:
            admin = await core.identity.find_user(session, "admin")
            workspace_id = (await seed_crm(session, admin.id, deals=deals)).id
        print(f"  seeded {deals:,} deals in {time.perf_counter() - started:.1f} s", flush=True)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
            token = (
                await client.post("/auth/login", json={"username": "admin", "password": PASSWORD})
            ).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}
            base = f"/api/v1/workspaces/{workspace_id}"
            for name, path in (
                ("deals list (limit 50)", f"{base}/deals?limit=50"),
                ("deals list, stage=won, offset 5000", f"{base}/deals?stage=won&limit=50&offset=5000"),
                ("analytics/pipeline", f"{base}/analytics/pipeline"),
                ("analytics/conversion", f"{base}/analytics/conversion"),
                ("analytics/forecast", f"{base}/analytics/forecast"),
            ):
                timings = []
                for _ in range(repeat):
                    begin = time.perf_counter()
                    response = await client.get(path, headers=headers)
                    timings.append((time.perf_counter() - begin) * 1000)
                    assert response.status_code == 200, response.text
                results[name] = (statistics.median(timings), percentile(timings, 99))
    return results


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deals", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    common = {
        "security": {"jwt_secret": "bench-" + "x" * 40, "admin_password": PASSWORD},
        "rate_limits": {"enabled": False},
        "logging": {"level": "warning"},
    }
    print("SQLite", flush=True)
    sqlite = await measure(
        Settings(server={"data_dir": tempfile.mkdtemp()}, **common), args.deals, args.repeat
    )
    schema = f"bench_{secrets.token_hex(4)}"
    connection = await asyncpg.connect(POSTGRES)
    await connection.execute(f"CREATE SCHEMA {schema}")
    try:
        print("PostgreSQL", flush=True)
        postgres = await measure(
            Settings(
                server={"data_dir": tempfile.mkdtemp()},
                database={
                    "url": POSTGRES.replace("postgresql://", "postgresql+asyncpg://"),
                    "schema_name": schema,
                },
                **common,
            ),
            args.deals,
            args.repeat,
        )
    finally:
        await connection.execute(f"DROP SCHEMA {schema} CASCADE")
        await connection.close()
    print(f"\n{args.deals:,} deals, {args.repeat} requests each, in-process through the whole app (ms)")
    print(f"  {'request':38s} {'SQLite p50':>11s} {'p99':>8s} {'PostgreSQL p50':>15s} {'p99':>8s}")
    for name in sqlite:
        print(
            f"  {name:38s} {sqlite[name][0]:11.1f} {sqlite[name][1]:8.1f} {postgres[name][0]:15.1f} {postgres[name][1]:8.1f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
