"""`pentad worker`: a Celery worker running Pentad jobs.

Pool: prefork. Each worker process owns one asyncio loop, one database pool and one bus connection,
built lazily after the fork (a pool or socket inherited across fork is unusable). Concurrency is the
number of processes. Progress reaches API nodes through the Redis bus, so use `bus.backend = "redis"`
with the Celery runner.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket

from celery.signals import worker_process_shutdown

from pentad.config import Settings
from pentad.core.jobs.celery_runner import TASK_NAME, WorkerRuntime, make_celery
from pentad.core.jobs.executor import JobRuntime

log = logging.getLogger(__name__)


def build_worker(settings: Settings) -> tuple[object, WorkerRuntime]:
    from pentad.app import build_core

    broker = settings.jobs.broker_url or settings.redis.url
    if not broker:
        raise SystemExit("pentad worker needs jobs.broker_url or redis.url")
    celery = make_celery(broker, settings.jobs.celery_queue)
    cores: list[object] = []

    def build(loop: asyncio.AbstractEventLoop) -> JobRuntime:
        core = build_core(settings)
        loop.run_until_complete(core.bus.start())
        core.job_runtime.worker_name = f"{socket.gethostname()}:{os.getpid()}"
        cores.append(core)
        return core.job_runtime

    runtime = WorkerRuntime(build)

    @celery.task(name=TASK_NAME, ignore_result=True)  # type: ignore[untyped-decorator]
    def run_job(job_id: str) -> None:
        runtime.run_job(job_id)

    async def shutdown() -> None:
        for core in cores:
            await core.bus.close()  # type: ignore[attr-defined]
            await core.db.dispose()  # type: ignore[attr-defined]

    @worker_process_shutdown.connect  # type: ignore[untyped-decorator]
    def _close(**_: object) -> None:
        runtime.close(shutdown)

    return celery, runtime


def run_worker(settings: Settings, *, concurrency: int, loglevel: str) -> None:
    celery, _runtime = build_worker(settings)
    # Celery's own SIGTERM handling is a warm shutdown: running jobs finish, then the worker exits.
    celery.worker_main(  # type: ignore[attr-defined]
        [
            "worker",
            "--pool=prefork",
            f"--concurrency={concurrency}",
            f"--loglevel={loglevel}",
            "-Q",
            settings.jobs.celery_queue,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
    )
