"""Job throughput and submit-to-complete latency: in-process runner vs Celery workers on Redis, one run.

N trivial jobs (`bench:noop`, registered by this module as a plugin) are submitted one transaction each;
the clock runs from the first submit to the last completion, and each job's latency from its submit to
its completion event on the bus.

    .venv/bin/python bench/bench_jobs.py [--jobs 300]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pentad.app import create_app  # noqa: E402
from pentad.config import Settings  # noqa: E402
from pentad.core.jobs.context import JobContext  # noqa: E402
from pentad.core.jobs.registry import JobRegistry, JobSpec  # noqa: E402

REDIS_URL = os.environ.get("PENTAD_BENCH_REDIS", "redis://127.0.0.1:6379/0")


async def noop(ctx: JobContext) -> dict[str, Any]:
    return {"ok": True}


def register(registry: JobRegistry) -> None:
    registry.register(JobSpec("bench:noop", noop))


def percentile(values: list[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, -(-q * len(ordered) // 100) - 1))]


async def run(settings: Settings, jobs: int) -> tuple[float, float, float]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        core = app.state.core
        subscription = core.bus.subscribe(["jobs"], maxsize=jobs * 10)
        submitted: dict[str, float] = {}
        latencies: list[float] = []
        started = time.perf_counter()
        for _ in range(jobs):
            async with core.db.transaction() as session:
                job = await core.jobs.submit(session, "bench:noop", {})
                submitted[str(job.id)] = time.perf_counter()
        while len(latencies) < jobs:
            message = await subscription.get(timeout=120)
            if message is None:
                raise RuntimeError(f"only {len(latencies)} of {jobs} jobs completed")
            if message.type == "completion" and message.payload["task_id"] in submitted:
                latencies.append(time.perf_counter() - submitted.pop(message.payload["task_id"]))
        elapsed = time.perf_counter() - started
    return jobs / elapsed, percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000


def base_settings(data_dir: Path, **extra: Any) -> Settings:
    return Settings(
        server={"data_dir": str(data_dir), "environment": "test"},
        security={"jwt_secret": "bench-" + "x" * 40, "admin_password": "bench-admin-pass"},
        logging={"level": "warning"},
        **extra,
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=300)
    args = parser.parse_args()
    plugin = {"extra_modules": ["bench.bench_jobs"], "concurrency": 8, "poll_seconds": 0.2}

    inprocess = await run(base_settings(Path(tempfile.mkdtemp()), jobs=plugin), args.jobs)

    queue = f"bench-{secrets.token_hex(4)}"
    data_dir = Path(tempfile.mkdtemp())
    celery_settings = base_settings(
        data_dir,
        redis={"url": REDIS_URL, "key_prefix": queue},
        bus={"backend": "redis"},
        jobs={**plugin, "runner": "celery", "celery_queue": queue, "heartbeat_seconds": 2.0},
    )
    # the API creates the schema; the worker starts against it
    app = create_app(celery_settings)
    async with app.router.lifespan_context(app):
        pass
    env = {k: v for k, v in os.environ.items() if not k.startswith("PENTAD_")}
    env.update(
        PYTHONPATH=str(ROOT),
        PENTAD_SERVER__DATA_DIR=str(data_dir),
        PENTAD_SECURITY__JWT_SECRET="bench-" + "x" * 40,
        PENTAD_REDIS__URL=REDIS_URL,
        PENTAD_REDIS__KEY_PREFIX=queue,
        PENTAD_BUS__BACKEND="redis",
        PENTAD_JOBS__RUNNER="celery",
        PENTAD_JOBS__CELERY_QUEUE=queue,
        PENTAD_JOBS__EXTRA_MODULES='["bench.bench_jobs"]',
        PENTAD_DATABASE__MIGRATE_ON_START="false",
    )
    worker = subprocess.Popen(
        [sys.executable, "-m", "pentad.cli", "worker", "--concurrency", "2", "--loglevel", "warning"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        await asyncio.sleep(3)  # worker boot
        celery = await run(celery_settings, args.jobs)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        await asyncio.to_thread(worker.wait, 30)

    print(f"{args.jobs} no-op jobs, SQLite, {os.cpu_count()} cores")
    print(f"  {'runner':32s} {'jobs/s':>8s} {'p50 ms':>8s} {'p99 ms':>8s}")
    for name, (rate, p50, p99) in (
        ("in-process (8 concurrent)", inprocess),
        ("Celery, 2 workers, Redis", celery),
    ):
        print(f"  {name:32s} {rate:8.1f} {p50:8.1f} {p99:8.1f}")
    print(f"  Celery / in-process throughput: {celery[0] / inprocess[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
