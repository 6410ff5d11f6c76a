"""The scale-out runner: Celery workers (`pentad worker`) run the same handlers as the in-process runner.

API side, `CeleryDispatcher` sends `pentad.run_job(job_id)` after the job row commits and sweeps for
work a broker lost (pending jobs not sent for a while) and for jobs whose worker died (no heartbeat).
Worker side, `WorkerRuntime` gives each worker process one event loop of its own, built after the fork,
and runs every task's coroutine on it (Celery has no native asyncio tasks; `asyncio.run` per task would
rebuild pools and the bus connection each time).

The job row is the source of truth: a duplicate message finds the job already claimed and does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from celery import Celery

from pentad.core.db import utcnow
from pentad.core.jobs.executor import JobRuntime, execute, ready_jobs, recover_stale

log = logging.getLogger(__name__)

TASK_NAME = "pentad.run_job"
RESEND_AFTER = timedelta(seconds=30)  # a pending job not picked up this long after it was sent is sent again
FORGET_AFTER = timedelta(minutes=1)


def make_celery(broker_url: str, queue: str) -> Celery:
    app = Celery("pentad", broker=broker_url)
    app.conf.update(
        task_default_queue=queue,
        task_ignore_result=True,  # progress and results live in our database, not a result backend
        task_acks_late=True,  # a worker killed mid-task leaves the message for another worker
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,  # long jobs: do not hoard messages other workers could take
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
        broker_transport_options={"visibility_timeout": 3600},
    )
    return app


class CeleryDispatcher:
    def __init__(
        self, runtime: JobRuntime, *, broker_url: str, queue: str = "pentad", sweep_seconds: float = 2.0
    ) -> None:
        self.runtime = runtime
        self.celery = make_celery(broker_url, queue)
        self._queue = queue
        self._sweep_seconds = sweep_seconds
        self._sent: dict[uuid.UUID, datetime] = {}
        self._task: asyncio.Task[None] | None = None
        self.queue_depth = 0

    async def start(self) -> None:
        self._task = asyncio.create_task(self._sweep_loop(), name="pentad-celery-sweeper")

    async def dispatch(self, job_id: uuid.UUID) -> None:
        self._sent[job_id] = utcnow()
        await asyncio.to_thread(self.celery.send_task, TASK_NAME, args=[str(job_id)], queue=self._queue)

    async def sweep_once(self) -> None:
        await recover_stale(self.runtime)
        ready = await ready_jobs(self.runtime, 500)
        self.queue_depth = len(ready)
        now = utcnow()
        for job_id, updated_at in ready:
            sent = self._sent.get(job_id)
            # never sent from here, changed since it was sent (a retry or a requeue), or apparently lost
            if sent is None or updated_at > sent or now - sent > RESEND_AFTER:
                await self.dispatch(job_id)
        waiting = {job_id for job_id, _ in ready}
        self._sent = {
            job_id: at for job_id, at in self._sent.items() if job_id in waiting or now - at < FORGET_AFTER
        }

    async def _sweep_loop(self) -> None:
        while True:
            try:
                await self.sweep_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("celery sweep failed; retrying")
            await asyncio.sleep(self._sweep_seconds)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await asyncio.to_thread(self.celery.close)


class WorkerRuntime:
    """One event loop and one job runtime per worker process, created on first use (after the fork)."""

    def __init__(self, build: Callable[[asyncio.AbstractEventLoop], JobRuntime]) -> None:
        self._build = build
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runtime: JobRuntime | None = None

    def run_job(self, job_id: str) -> None:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            self._runtime = self._build(self._loop)
        assert self._runtime is not None
        self._loop.run_until_complete(execute(self._runtime, uuid.UUID(job_id)))

    def close(self, shutdown: Callable[[], Any] | None = None) -> None:
        if self._loop is not None and shutdown is not None:
            with contextlib.suppress(Exception):
                self._loop.run_until_complete(shutdown())
        if self._loop is not None:
            self._loop.close()
