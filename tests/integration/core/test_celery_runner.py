"""The Celery runner with real `pentad worker` processes on the real Redis: progress across processes,
cancel, retries, an API restart mid-job, and a worker killed with SIGKILL mid-job."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from pentad.config import Settings
from pentad.core import channels
from pentad.core.jobs.models import Job
from tests.helpers import REDIS_URL, RunningApp, SettingsFactory

pytestmark = [pytest.mark.redis, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]


def worker_env(settings: Settings) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PENTAD_")}
    env.update(
        PYTHONPATH=str(ROOT),
        PENTAD_SERVER__DATA_DIR=str(settings.server.data_dir),
        PENTAD_DATABASE__URL=settings.database_url,
        PENTAD_SECURITY__JWT_SECRET=settings.security.jwt_secret.get_secret_value()
        if settings.security.jwt_secret
        else "",
        PENTAD_REDIS__URL=REDIS_URL,
        PENTAD_REDIS__KEY_PREFIX=settings.redis.key_prefix,
        PENTAD_BUS__BACKEND="redis",
        PENTAD_JOBS__RUNNER="celery",
        PENTAD_JOBS__CELERY_QUEUE=settings.jobs.celery_queue,
        PENTAD_JOBS__BROKER_URL=settings.jobs.broker_url or "",
        PENTAD_JOBS__HEARTBEAT_SECONDS=str(settings.jobs.heartbeat_seconds),
        PENTAD_JOBS__EXTRA_MODULES=json.dumps(settings.jobs.extra_modules),
        PENTAD_DATABASE__MIGRATE_ON_START="false",
    )
    if not settings.jobs.broker_url:
        env.pop("PENTAD_JOBS__BROKER_URL")
    if settings.database.schema_name:
        env["PENTAD_DATABASE__SCHEMA_NAME"] = settings.database.schema_name
    return env


@pytest.fixture
def celery_settings(backend: str, make_settings: SettingsFactory) -> Settings:
    return make_settings(
        backend,
        redis={"url": REDIS_URL},
        bus={"backend": "redis"},
        jobs={
            "runner": "celery",
            "celery_queue": f"pentad-test-{secrets.token_hex(4)}",
            "heartbeat_seconds": 0.3,
            "extra_modules": ["tests.fixtures.core_jobs"],
        },
    )


@pytest.fixture
async def start_worker(celery_settings: Settings) -> AsyncIterator[Callable[[], subprocess.Popen[bytes]]]:
    workers: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "pentad.cli", "worker", "--concurrency", "2", "--loglevel", "warning"],
            env=worker_env(celery_settings),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # so a SIGKILL can take the whole process group, children included
        )
        workers.append(process)
        return process

    yield start
    for process in workers:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)  # warm shutdown
            try:
                await asyncio.to_thread(process.wait, 20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                await asyncio.to_thread(process.wait)


async def submit(app: RunningApp, job_type: str, payload: dict[str, Any]) -> uuid.UUID:
    async with app.core.db.transaction() as session:
        return (await app.core.jobs.submit(session, job_type, payload)).id  # type: ignore[no-any-return]


async def status_of(app: RunningApp, job_id: uuid.UUID) -> Job:
    async with app.core.db.transaction() as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return job


async def wait_for(app: RunningApp, job_id: uuid.UUID, wanted: set[str], timeout: float = 60) -> Job:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        job = await status_of(app, job_id)
        if job.status in wanted:
            return job
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"job is {job.status} ({job.error}), wanted {wanted}")
        await asyncio.sleep(0.05)


async def test_job_runs_on_worker_and_progress_reaches_the_api(
    celery_settings: Settings, start_app: Any, start_worker: Callable[[], Any]
) -> None:
    app: RunningApp = await start_app(celery_settings)
    start_worker()
    subscription = app.core.bus.subscribe(["job.*"])
    job_id = await submit(app, "test:steps", {"count": 4, "delay": 0.05})
    progress = []
    while True:
        message = await subscription.get(timeout=60)
        assert message is not None
        if message.channel != channels.job(job_id) or message.type == "log":
            continue
        progress.append((message.type, message.payload["progress"]))
        if message.type == "completion":
            break
    assert [p for kind, p in progress if kind == "progress"] == [25, 50, 75, 100]
    job = await status_of(app, job_id)
    assert job.status == "completed"
    assert job.result == {"steps": 4}
    assert job.worker is not None
    assert job.worker.split(":")[-1] != str(os.getpid())  # it ran in the worker, not here


RABBITMQ_URL = os.environ.get("PENTAD_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672//")


async def test_rabbitmq_broker_by_url(make_settings: SettingsFactory, start_app: Any, tmp_path: Path) -> None:
    settings = make_settings(
        redis={"url": REDIS_URL},
        bus={"backend": "redis"},
        jobs={
            "runner": "celery",
            "broker_url": RABBITMQ_URL,
            "celery_queue": f"pentad-test-{secrets.token_hex(4)}",
            "heartbeat_seconds": 0.3,
            "extra_modules": ["tests.fixtures.core_jobs"],
        },
    )
    app: RunningApp = await start_app(settings)
    worker = subprocess.Popen(
        [sys.executable, "-m", "pentad.cli", "worker", "--concurrency", "1", "--loglevel", "warning"],
        env=worker_env(settings),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        job_id = await submit(app, "test:steps", {"count": 2})
        job = await wait_for(app, job_id, {"completed"})
        assert job.result == {"steps": 2}
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        await asyncio.to_thread(worker.wait, 30)


async def test_cancel_and_retries_on_workers(
    celery_settings: Settings, start_app: Any, start_worker: Callable[[], Any], tmp_path: Path
) -> None:
    app: RunningApp = await start_app(celery_settings)
    start_worker()
    trace = tmp_path / "trace.txt"
    long_job = await submit(app, "test:steps", {"count": 400, "delay": 0.05, "trace": str(trace)})
    flaky = await submit(app, "test:flaky", {"succeed_on": 3})
    await wait_for(app, long_job, {"running"})
    while not trace.exists():
        await asyncio.sleep(0.05)
    async with app.core.db.transaction() as session:
        await app.core.jobs.cancel(session, await app.core.jobs.get(session, long_job))
    await asyncio.sleep(1.0)  # the worker hears it on the bus at once, or on its next heartbeat
    steps = trace.read_text().split()
    await asyncio.sleep(1.0)
    assert trace.read_text().split() == steps
    assert len(steps) < 400
    done = await wait_for(app, flaky, {"completed", "failed"})
    assert done.status == "completed"
    assert done.attempts == 3


async def test_job_survives_api_restart(
    celery_settings: Settings, start_app: Any, start_worker: Callable[[], Any]
) -> None:
    first: RunningApp = await start_app(celery_settings)
    job_id = await submit(first, "test:steps", {"count": 10, "delay": 0.1})
    await first.core.runner.stop()  # the API's dispatcher goes away; the message is already in Redis
    start_worker()
    second: RunningApp = await start_app(celery_settings)
    job = await wait_for(second, job_id, {"completed"})
    assert job.result == {"steps": 10}


async def test_killed_worker_jobs_are_requeued_or_failed(
    celery_settings: Settings, start_app: Any, start_worker: Callable[[], Any]
) -> None:
    app: RunningApp = await start_app(celery_settings)
    doomed = start_worker()
    requeue = await submit(app, "test:requeue", {"count": 40, "delay": 0.1})
    fail = await submit(app, "test:fail-on-interrupt", {"count": 40, "delay": 0.1})
    await wait_for(app, requeue, {"running"})
    await wait_for(app, fail, {"running"})
    os.killpg(doomed.pid, signal.SIGKILL)
    doomed.wait()
    failed = await wait_for(app, fail, {"failed"}, timeout=30)
    assert failed.error == "interrupted: its runner stopped responding"
    start_worker()
    finished = await wait_for(app, requeue, {"completed"}, timeout=90)
    assert finished.attempts == 2
