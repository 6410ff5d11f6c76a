"""The embedded runner: jobs run as asyncio tasks in the server process, at most `concurrency` at once.

New jobs are handed over right after their transaction commits; a poll loop also picks up retries whose
backoff has passed, jobs submitted by other processes, and recovers jobs whose runner died.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid

from pentad.core.jobs.executor import JobRuntime, execute, ready_job_ids, recover_stale, release_interrupted

log = logging.getLogger(__name__)


class InProcessRunner:
    def __init__(
        self,
        runtime: JobRuntime,
        *,
        concurrency: int = 4,
        poll_seconds: float = 1.0,
        recovery_seconds: float | None = None,
    ) -> None:
        self.runtime = runtime
        self.concurrency = concurrency
        self._poll_seconds = poll_seconds
        self._recovery_seconds = recovery_seconds or max(runtime.heartbeat_seconds, 1.0)
        self._tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = False
        self.queue_depth = 0  # ready jobs seen waiting for a free slot at the last poll

    @property
    def active(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        await recover_stale(self.runtime)
        self._loop_task = asyncio.create_task(self._loop(), name="pentad-job-runner")

    async def dispatch(self, job_id: uuid.UUID) -> None:
        if not self._stopping and len(self._tasks) < self.concurrency:
            self._spawn(job_id)
        else:
            self._wake.set()

    def _spawn(self, job_id: uuid.UUID) -> None:
        if job_id in self._tasks:
            return
        task = asyncio.create_task(self._execute(job_id), name=f"pentad-job-{job_id}")
        self._tasks[job_id] = task

    async def _execute(self, job_id: uuid.UUID) -> None:
        try:
            await execute(self.runtime, job_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("job %s crashed the executor", job_id)
        finally:
            self._tasks.pop(job_id, None)
            self._wake.set()  # a slot is free

    async def _loop(self) -> None:
        last_recovery = time.monotonic()
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
            self._wake.clear()
            try:
                if time.monotonic() - last_recovery >= self._recovery_seconds:
                    last_recovery = time.monotonic()
                    await recover_stale(self.runtime)
                free = self.concurrency - len(self._tasks)
                if free > 0:
                    ready = await ready_job_ids(self.runtime, free + len(self._tasks))
                    self.queue_depth = max(0, len(ready) - free)
                    for job_id in ready:
                        if len(self._tasks) >= self.concurrency:
                            break
                        self._spawn(job_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("job runner loop error; retrying")
                await asyncio.sleep(self._poll_seconds)

    async def stop(self) -> None:
        self._stopping = True
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        held = list(self._tasks)
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        # each cancelled job applies its interrupt policy (requeue or fail) before it stops
        await asyncio.gather(*tasks, return_exceptions=True)
        # ...unless the cancel landed before its handler started: those rows are released here
        await release_interrupted(self.runtime, held, "the runner stopped")
