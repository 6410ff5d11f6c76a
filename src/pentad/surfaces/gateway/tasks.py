"""spec 003 Tasks: `GET /api/v1/tasks/{id}`; plus `GET /api/v1/tasks/{id}/events`, a Server-Sent Events
stream of the same task (current state first, then every change until it finishes)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from pentad.core import channels
from pentad.core.db import isoformat_z
from pentad.core.errors import BadRequest, NotFound
from pentad.core.identity.dependencies import Core, CurrentPrincipal, DbSession
from pentad.core.identity.principal import Principal
from pentad.core.jobs import states
from pentad.core.jobs.context import job_snapshot
from pentad.core.jobs.models import Job
from pentad.core.realtime import sse_response

router = APIRouter(prefix="/api/v1/tasks", tags=["Gateway: Tasks"])


class TaskResponse(BaseModel):
    id: str
    type: str = Field(examples=["vm:create"])
    status: str = Field(examples=["completed"])
    progress: int
    result: dict[str, Any] | None
    error: str | None
    created_at: str
    started_at: str | None
    completed_at: str | None


def parse_uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise BadRequest(f"Invalid {what} ID: not a valid UUID") from None


def can_see(principal: Principal, job: Job) -> bool:
    return job.owner_id == principal.user_id or principal.is_admin or "operator" in principal.roles


async def load_task(core: Core, session: DbSession, principal: Principal, task_id: str) -> Job:
    job = await session.get(Job, parse_uuid(task_id, "task"))
    if job is None or not can_see(principal, job):
        raise NotFound("task", task_id)  # another user's task is as absent as a missing one
    return job


def task_response(job: Job) -> TaskResponse:
    return TaskResponse(
        id=str(job.id),
        type=job.type,
        status=job.status,
        progress=job.progress,
        result=job.result,
        error=job.error,
        created_at=isoformat_z(job.created_at),
        started_at=isoformat_z(job.started_at) if job.started_at else None,
        completed_at=isoformat_z(job.finished_at) if job.finished_at else None,
    )


@router.get("/{task_id}", response_model=TaskResponse, summary="Get task status")
async def get_task(task_id: str, principal: CurrentPrincipal, core: Core, session: DbSession) -> TaskResponse:
    return task_response(await load_task(core, session, principal, task_id))


@router.get(
    "/{task_id}/events",
    responses={200: {"content": {"text/event-stream": {}}}},
    summary="Stream task state changes (Server-Sent Events)",
)
async def task_events(task_id: str, principal: CurrentPrincipal, core: Core, session: DbSession) -> Any:
    job = await load_task(core, session, principal, task_id)
    # subscribe before reading the snapshot, so no change falls between the two
    subscription = core.bus.subscribe([channels.job(job.id)], maxsize=core.settings.bus.subscriber_queue)
    snapshot = job_snapshot(job)

    async def events() -> AsyncIterator[tuple[str, dict[str, Any]]]:
        try:
            yield "state", snapshot
            if snapshot["status"] in states.TERMINAL:
                return
            async for message in subscription:
                yield message.type, message.payload
                if message.payload.get("status") in states.TERMINAL and message.type != "log":
                    return
        finally:
            core.bus.unsubscribe(subscription)

    return sse_response(events())


class CancelResponse(BaseModel):
    id: str
    status: str
    message: str


@router.delete(
    "/{task_id}",
    response_model=CancelResponse,
    responses={409: {"description": "The task already finished"}},
    summary="Cancel a pending or running task",
)
async def cancel_task(
    task_id: str, principal: CurrentPrincipal, core: Core, session: DbSession
) -> CancelResponse:
    job = await load_task(core, session, principal, task_id)
    await core.jobs.cancel(session, job)
    return CancelResponse(id=str(job.id), status=job.status, message="Task cancelled")
