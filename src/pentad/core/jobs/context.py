"""What a job handler receives: its payload, progress and log reporting, and cancellation."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from pentad.core.db import utcnow
from pentad.core.jobs.models import Job, JobLog

if TYPE_CHECKING:
    from pentad.core.jobs.executor import JobRuntime


class JobCancelled(Exception):
    """Raised by `raise_if_cancelled()`; the executor records the job as cancelled."""


class JobContext:
    def __init__(self, runtime: JobRuntime, job: Job) -> None:
        self._runtime = runtime
        self.job_id: uuid.UUID = job.id
        self.type: str = job.type
        self.payload: dict[str, Any] = dict(job.payload)
        self.owner_id: uuid.UUID | None = job.owner_id
        self.subject_id: str | None = job.subject_id
        self.attempt: int = job.attempts
        self.cancel_requested = False
        self.last_progress = job.progress

    @property
    def resources(self) -> dict[str, Any]:
        """Engines and services the composition root handed to job handlers (`llm`, `sandbox`...)."""
        return self._runtime.resources

    @property
    def runtime(self) -> JobRuntime:
        return self._runtime

    def raise_if_cancelled(self) -> None:
        if self.cancel_requested:
            raise JobCancelled(f"job {self.job_id} was cancelled")

    async def progress(self, percent: int, **data: Any) -> None:
        """Record progress (0-100, never going backwards) with details such as `current_step`."""
        self.raise_if_cancelled()
        percent = max(self.last_progress, min(100, max(0, int(percent))))
        self.last_progress = percent
        async with self._runtime.db.transaction() as session:
            job = await session.get(Job, self.job_id)
            if job is None:
                return
            job.progress = percent
            job.data = {**job.data, **data}
            job.heartbeat_at = utcnow()
            snapshot = job_snapshot(job)
        await self._runtime.publish_job_event("progress", snapshot)

    async def log(self, message: str, level: str = "info", **fields: Any) -> None:
        async with self._runtime.db.transaction() as session:
            session.add(JobLog(job_id=self.job_id, level=level, message=message, fields=fields))
        await self._runtime.publish_log(self, level, message, fields)


def job_snapshot(job: Job) -> dict[str, Any]:
    """The public view of a job, as every relay (WebSocket, SSE, task API) starts from."""
    from pentad.core.db import isoformat_z

    def stamp(value: Any) -> str | None:
        return isoformat_z(value) if value is not None else None

    return {
        "task_id": str(job.id),
        "type": job.type,
        "status": job.status,
        "progress": job.progress,
        "data": dict(job.data),
        "result": job.result,
        "error": job.error,
        "owner_id": str(job.owner_id) if job.owner_id else None,
        "subject_id": job.subject_id,
        "attempts": job.attempts,
        "created_at": stamp(job.created_at),
        "started_at": stamp(job.started_at),
        "finished_at": stamp(job.finished_at),
    }
