"""Submit, read, list and cancel jobs. Surfaces call these inside their request's transaction: the job
row commits with the change that asked for it, and reaches a runner only after that commit (outbox)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pentad.core import channels
from pentad.core.bus import Bus
from pentad.core.db import after_commit, utcnow
from pentad.core.errors import NotFound
from pentad.core.jobs import states
from pentad.core.jobs.context import job_snapshot
from pentad.core.jobs.models import Job, JobLog
from pentad.core.jobs.registry import JobRegistry

Dispatch = Callable[[uuid.UUID], Awaitable[None]]


class JobService:
    def __init__(self, registry: JobRegistry, bus: Bus, dispatch: Dispatch) -> None:
        self.registry = registry
        self._bus = bus
        self._dispatch = dispatch

    def set_dispatch(self, dispatch: Dispatch) -> None:
        self._dispatch = dispatch

    async def submit(
        self,
        session: AsyncSession,
        job_type: str,
        payload: dict[str, Any],
        *,
        owner_id: uuid.UUID | None = None,
        subject_id: str | None = None,
        job_id: uuid.UUID | None = None,
    ) -> Job:
        spec = self.registry.get(job_type)
        if spec is None:
            raise ValueError(f"unknown job type {job_type!r}")
        job = Job(
            type=job_type,
            status=states.PENDING,
            payload=payload,
            owner_id=owner_id,
            subject_id=subject_id,
            max_attempts=spec.max_attempts,
        )
        if job_id is not None:
            job.id = job_id
        session.add(job)
        await session.flush()
        new_id = job.id

        async def hand_over() -> None:
            await self._dispatch(new_id)

        after_commit(session, hand_over)
        return job

    async def get(self, session: AsyncSession, job_id: uuid.UUID, resource_type: str = "task") -> Job:
        job = await session.get(Job, job_id)
        if job is None:
            raise NotFound(resource_type, str(job_id))
        return job

    async def list_jobs(
        self,
        session: AsyncSession,
        *,
        job_types: list[str] | None = None,
        owner_id: uuid.UUID | None = None,
        subject_id: str | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> tuple[list[Job], int]:
        query = select(Job)
        if job_types:
            query = query.where(Job.type.in_(job_types))
        if owner_id is not None:
            query = query.where(Job.owner_id == owner_id)
        if subject_id is not None:
            query = query.where(Job.subject_id == subject_id)
        total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        rows = await session.execute(
            query.order_by(Job.created_at.desc(), Job.id).limit(limit).offset(offset)
        )
        return list(rows.scalars()), int(total)

    async def cancel(self, session: AsyncSession, job: Job) -> Job:
        """Cancel now: the row says cancelled at once and a running handler is told to stop.

        Cancelling a finished job is a 409 (IllegalTransition).
        """
        states.check_transition(job.status, states.CANCELLED)
        was_running = job.status == states.RUNNING
        job.status = states.CANCELLED
        job.cancel_requested = True
        job.finished_at = utcnow()
        await session.flush()
        snapshot = job_snapshot(job)
        job_id = job.id

        async def announce() -> None:
            if was_running:
                await self._bus.publish(channels.job_control(job_id), "cancel", {"task_id": str(job_id)})
            await self._bus.publish(channels.job(job_id), "cancelled", snapshot)
            await self._bus.publish(channels.JOBS, "cancelled", snapshot)

        after_commit(session, announce)
        return job

    async def logs(self, session: AsyncSession, job_id: uuid.UUID, limit: int = 1000) -> list[JobLog]:
        rows = await session.execute(
            select(JobLog).where(JobLog.job_id == job_id).order_by(JobLog.id).limit(limit)
        )
        return list(rows.scalars())
