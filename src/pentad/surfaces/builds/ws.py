"""spec 004 WebSockets: `/api/ws/build/{task_id}?token=` and `/api/ws/analysis/{analysis_id}?token=`.

On connect: `connected`, then the task's current state (so a client that reconnects catches up), then
`progress` / `completion` / `error` messages as they happen. A bad token closes with 1008.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, WebSocket

from pentad.core import channels
from pentad.core.bus import Message
from pentad.core.context import CoreServices
from pentad.core.db import isoformat_z, utcnow
from pentad.core.jobs import states
from pentad.core.jobs.context import job_snapshot
from pentad.core.jobs.models import Job
from pentad.core.realtime import POLICY_VIOLATION, relay, send_json, websocket_principal

router = APIRouter(tags=["Builds: WebSockets"])


def _is_kind(job_type: str, kind: str) -> bool:
    return job_type == kind or job_type.startswith(kind + ":")


def render(snapshot: dict[str, Any], event: str) -> dict[str, Any] | None:
    """A job snapshot in spec 004's message shapes; the job's log lines are not part of this stream."""
    if event == "log":
        return None
    base = {
        "task_id": snapshot["task_id"],
        "status": _public_status(snapshot["status"]),
        "timestamp": isoformat_z(utcnow()),
    }
    status = snapshot["status"]
    if status == states.COMPLETED:
        return {"type": "completion", **base, "results": snapshot.get("result") or {}}
    if status in (states.FAILED, states.CANCELLED):
        error = snapshot.get("error") or ("Task was cancelled" if status == states.CANCELLED else "failed")
        return {"type": "error", **base, "error": error}
    if event == "log":
        return None
    return {
        "type": "progress",
        **base,
        "progress": snapshot.get("progress", 0),
        "data": snapshot.get("data", {}),
    }


def _public_status(status: str) -> str:
    return "initializing" if status == states.PENDING else status


async def _stream(websocket: WebSocket, task_id: str, kind: str) -> None:
    core: CoreServices = websocket.app.state.core
    await websocket.accept()
    principal = await websocket_principal(websocket, core)
    if principal is None:
        return
    try:
        job_uuid = uuid.UUID(task_id)
    except ValueError:
        await websocket.close(code=POLICY_VIOLATION, reason="not a valid task id")
        return
    subscription = core.bus.subscribe([channels.job(job_uuid)], maxsize=core.settings.bus.subscriber_queue)
    try:
        async with core.db.transaction() as session:
            job = await session.get(Job, job_uuid)
            allowed = (
                job is not None
                and _is_kind(job.type, kind)
                and (job.owner_id == principal.user_id or principal.is_admin or "viewer" in principal.roles)
            )
            snapshot = job_snapshot(job) if job is not None and allowed else None
        if snapshot is None:
            await websocket.close(code=POLICY_VIOLATION, reason=f"{kind} task not found")
            return
        await send_json(
            websocket,
            {
                "type": "connected",
                "task_id": task_id,
                "message": f"Connected to {kind} updates",
                "timestamp": isoformat_z(utcnow()),
            },
        )
        current = render(snapshot, "state")
        if current is not None:
            await send_json(websocket, current)
        if snapshot["status"] in states.TERMINAL:
            await websocket.close(code=1000)
            return

        def stop_after(message: Message) -> bool:
            return message.type != "log" and message.payload.get("status") in states.TERMINAL

        await relay(websocket, subscription, lambda m: render(m.payload, m.type), stop_after=stop_after)
    finally:
        core.bus.unsubscribe(subscription)


@router.websocket("/api/ws/build/{task_id}")
async def build_updates(websocket: WebSocket, task_id: str) -> None:
    await _stream(websocket, task_id, "build")


@router.websocket("/api/ws/analysis/{analysis_id}")
async def analysis_updates(websocket: WebSocket, analysis_id: str) -> None:
    await _stream(websocket, analysis_id, "analysis")
