"""Run one job: claim it, run its handler under heartbeat, cancellation and time limit, record the
outcome, publish every change. The in-process runner and the Celery worker both call `execute`.

A claim is one conditional UPDATE (`pending` -> `running`), so a job never runs twice even when several
runners race for it. Status changes after the claim go through the state machine, so a job cancelled by
the API while its handler was finishing stays cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, update

from pentad.core import channels
from pentad.core.bus import Bus
from pentad.core.db import Database, isoformat_z, utcnow
from pentad.core.jobs import states
from pentad.core.jobs.context import JobCancelled, JobContext, job_snapshot
from pentad.core.jobs.models import Job
from pentad.core.jobs.registry import JobRegistry, JobSpec

log = logging.getLogger(__name__)

# An interrupted job is requeued at most this many times in all before it is failed for good, so a job
# that kills its runner cannot loop forever.
MAX_INTERRUPTED_RUNS = 3


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class JobRuntime:
    db: Database
    bus: Bus
    registry: JobRegistry
    resources: dict[str, Any] = field(default_factory=dict)
    worker_name: str = field(default_factory=default_worker_name)
    heartbeat_seconds: float = 2.0
    # where job log lines go besides job_logs (the logs engine's store, wired by the composition root)
    log_sink: Callable[[list[dict[str, Any]]], Awaitable[None]] | None = None

    @property
    def stale_after(self) -> timedelta:
        return timedelta(seconds=self.heartbeat_seconds * 3)

    async def publish_job_event(self, event: str, snapshot: dict[str, Any]) -> None:
        await self.bus.publish(channels.job(snapshot["task_id"]), event, snapshot)
        await self.bus.publish(channels.JOBS, event, snapshot)

    async def publish_log(self, ctx: JobContext, level: str, message: str, fields: dict[str, Any]) -> None:
        record: dict[str, Any] = {
            "timestamp": isoformat_z(utcnow()),
            "level": level,
            "message": message,
            "task_id": str(ctx.job_id),
            "vm_id": fields.get("vm_id") or (ctx.subject_id if ctx.type.startswith("vm:") else None),
            "fields": fields,
        }
        if self.log_sink is not None:
            await self.log_sink([record])
        await self.bus.publish(channels.LOGS, "log", record)
        await self.bus.publish(channels.job(ctx.job_id), "log", record)


async def claim(runtime: JobRuntime, job_id: uuid.UUID) -> bool:
    now = utcnow()
    async with runtime.db.transaction() as session:
        result = await session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.status == states.PENDING,
                or_(Job.next_attempt_at.is_(None), Job.next_attempt_at <= now),
            )
            .values(
                status=states.RUNNING,
                attempts=Job.attempts + 1,
                started_at=now,
                heartbeat_at=now,
                worker=runtime.worker_name,
                updated_at=now,
            )
        )
        return int(getattr(result, "rowcount", 0) or 0) == 1


async def transition(
    runtime: JobRuntime, job_id: uuid.UUID, target: str, **changes: Any
) -> dict[str, Any] | None:
    """Move a job to `target` if the state machine allows it from where it is now; publish the change."""
    async with runtime.db.transaction() as session:
        job = await session.get(Job, job_id, with_for_update=not runtime.db.is_sqlite)
        if job is None:
            return None
        try:
            states.check_transition(job.status, target)
        except states.IllegalTransition:
            log.debug("job %s is %s; not moving it to %s", job_id, job.status, target)
            return None
        job.status = target
        for name, value in changes.items():
            setattr(job, name, value)
        if target in states.TERMINAL:
            job.finished_at = utcnow()
        snapshot = job_snapshot(job)
    event = {states.COMPLETED: "completion", states.FAILED: "error", states.CANCELLED: "cancelled"}.get(
        target, "status"
    )
    await runtime.publish_job_event(event, snapshot)
    return snapshot


async def execute(runtime: JobRuntime, job_id: uuid.UUID) -> None:
    if not await claim(runtime, job_id):
        return
    async with runtime.db.transaction() as session:
        job = await session.get(Job, job_id)
        assert job is not None
        spec = runtime.registry.get(job.type)
        ctx = JobContext(runtime, job)
        snapshot = job_snapshot(job)
    await runtime.publish_job_event("status", snapshot)
    if spec is None:
        await transition(runtime, job_id, states.FAILED, error=f"no handler for job type '{ctx.type}' here")
        return
    await _run(runtime, spec, ctx)


async def _run(runtime: JobRuntime, spec: JobSpec, ctx: JobContext) -> None:
    handler = asyncio.create_task(spec.handler(ctx), name=f"job-{ctx.job_id}")
    watcher = asyncio.create_task(_watch(runtime, ctx, handler), name=f"job-watch-{ctx.job_id}")
    try:
        result = await asyncio.wait_for(asyncio.shield(handler), spec.timeout_seconds)
    except TimeoutError:
        handler.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await handler
        await _failed(runtime, spec, ctx, f"timed out after {spec.timeout_seconds:g} s")
    except (asyncio.CancelledError, JobCancelled):
        if ctx.cancel_requested:
            handler.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await handler
            await transition(runtime, ctx.job_id, states.CANCELLED, error=None)
        else:  # the runner itself is stopping: apply the handler's interrupt policy, then stop too
            handler.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await handler
            await asyncio.shield(interrupt(runtime, spec, ctx.job_id, ctx.attempt, "the runner stopped"))
            raise
    except Exception as exc:
        await _failed(runtime, spec, ctx, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
    else:
        await transition(runtime, ctx.job_id, states.COMPLETED, result=result or {}, progress=100, error=None)
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher


async def _failed(runtime: JobRuntime, spec: JobSpec, ctx: JobContext, reason: str) -> None:
    if ctx.attempt < spec.max_attempts:
        delay = spec.retry_delay(ctx.attempt)
        await ctx.log(f"attempt {ctx.attempt} failed: {reason}; retrying in {delay:g} s", level="warning")
        await transition(
            runtime,
            ctx.job_id,
            states.PENDING,
            error=reason,
            next_attempt_at=utcnow() + timedelta(seconds=delay),
        )
        return
    await ctx.log(f"failed: {reason}", level="error")
    await transition(runtime, ctx.job_id, states.FAILED, error=reason)


async def interrupt(
    runtime: JobRuntime, spec: JobSpec | None, job_id: uuid.UUID, attempts: int, why: str
) -> None:
    """A running job whose runner is gone: requeue it or fail it, as its handler declared."""
    if (
        spec is not None
        and spec.on_interrupt == "requeue"
        and attempts < max(spec.max_attempts, MAX_INTERRUPTED_RUNS)
    ):
        await transition(
            runtime, job_id, states.PENDING, error=f"interrupted ({why}); requeued", next_attempt_at=None
        )
    else:
        await transition(runtime, job_id, states.FAILED, error=f"interrupted: {why}")


async def _watch(runtime: JobRuntime, ctx: JobContext, handler: asyncio.Task[Any]) -> None:
    """Heartbeat the row and stop the handler promptly when the job is cancelled (bus or database)."""
    subscription = runtime.bus.subscribe([channels.job_control(ctx.job_id)], maxsize=16)
    try:
        while not handler.done():
            message = await subscription.get(timeout=runtime.heartbeat_seconds)
            cancelled = message is not None and message.type == "cancel"
            async with runtime.db.transaction() as session:
                job = await session.get(Job, ctx.job_id)
                if job is None:
                    cancelled = True
                else:
                    cancelled = cancelled or job.cancel_requested
                    if job.status == states.RUNNING:
                        job.heartbeat_at = utcnow()
            if cancelled:
                ctx.cancel_requested = True
                handler.cancel()
                return
    finally:
        runtime.bus.unsubscribe(subscription)


async def _interrupt_running(runtime: JobRuntime, condition: ColumnElement[bool], why: str) -> int:
    """Apply each job's interrupt policy to the running jobs that match `condition`."""
    async with runtime.db.transaction() as session:
        rows = (
            await session.execute(
                select(Job.id, Job.type, Job.attempts).where(Job.status == states.RUNNING, condition)
            )
        ).all()
    for job_id, job_type, attempts in rows:
        await interrupt(runtime, runtime.registry.get(job_type), job_id, attempts, why)
    return len(rows)


async def recover_stale(runtime: JobRuntime) -> int:
    """Requeue or fail jobs whose runner stopped heartbeating (process killed, node lost)."""
    cutoff = utcnow() - runtime.stale_after
    return await _interrupt_running(runtime, Job.heartbeat_at < cutoff, "its runner stopped responding")


async def release_interrupted(runtime: JobRuntime, job_ids: list[uuid.UUID], why: str) -> int:
    """Apply the interrupt policy to those of `job_ids` this worker still holds as running.

    A task cancelled between claiming its job and entering the handler's try block never reaches the
    interrupt path; without this the row would stay running until the stale-heartbeat recovery.
    """
    if not job_ids:
        return 0
    held = and_(Job.id.in_(job_ids), Job.worker == runtime.worker_name)
    return await _interrupt_running(runtime, held, why)


async def ready_job_ids(runtime: JobRuntime, limit: int) -> list[uuid.UUID]:
    return [job_id for job_id, _updated in await ready_jobs(runtime, limit)]


async def ready_jobs(runtime: JobRuntime, limit: int) -> list[tuple[uuid.UUID, datetime]]:
    """Pending jobs whose time has come, oldest first, with when their row last changed."""
    now = utcnow()
    async with runtime.db.transaction() as session:
        rows = await session.execute(
            select(Job.id, Job.updated_at)
            .where(
                Job.status == states.PENDING,
                or_(Job.next_attempt_at.is_(None), Job.next_attempt_at <= now),
                Job.type.in_(runtime.registry.types),
            )
            .order_by(Job.created_at)
            .limit(limit)
        )
        return [(row[0], row[1]) for row in rows]
