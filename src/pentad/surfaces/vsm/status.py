"""spec 000 §5.1 `GET /api/vsm/status`, computed from live state each time it is asked:

- S1 (operations): active agents; load = jobs running / runner capacity.
- S2 (coordination): share of the last day's finished jobs that completed, times the share of bus
  messages delivered (not dropped for slow subscribers).
- S3 (audit): checks the stored state is consistent right now: no job left running without a heartbeat,
  no webhook delivery given up in the last hour. `in_sync` or `discrepancy`, with `last_audit` = now;
  it also reports the GoldRush events received in the last hour and the patterns in force.
- S4 (intelligence): algedonic signals that reached S4 in the last day; variety absorption = share of the
  day's signals handled below S5 (not escalated).
- S5 (policy): the configured policy version; decisions today = signals escalated to S5 since midnight UTC.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import func, select

from pentad.core.bus import MemoryBus, RedisBus
from pentad.core.db import isoformat_z, utcnow
from pentad.core.identity.dependencies import Core, DbSession, RequirePermission
from pentad.core.identity.principal import Principal
from pentad.core.jobs import states
from pentad.core.jobs.models import Job
from pentad.core.webhooks.models import WebhookDelivery
from pentad.engines.goldrush.models import GoldrushEvent, GoldrushPattern
from pentad.surfaces.vsm.models import Agent, AlgedonicSignal

router = APIRouter(prefix="/api/vsm", tags=["VSM: Core"])
VsmReader = Annotated[Principal, RequirePermission("vsm.read")]


class StatusResponse(BaseModel):
    status: str
    systems: dict[str, dict[str, Any]]
    timestamp: str


async def _count(session: DbSession, *conditions: Any, model: Any = Job) -> int:
    return int(
        (await session.execute(select(func.count()).select_from(model).where(*conditions))).scalar_one()
    )


@router.get("/status", response_model=StatusResponse, summary="System status")
async def status(principal: VsmReader, core: Core, session: DbSession) -> StatusResponse:
    now = utcnow()
    day_ago = now - timedelta(days=1)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)

    agents = await _count(session, Agent.status == "active", model=Agent)
    running = await _count(session, Job.status == states.RUNNING)
    capacity = core.settings.jobs.concurrency
    load = round(min(1.0, running / capacity), 2) if capacity else 0.0

    completed = await _count(session, Job.status == states.COMPLETED, Job.finished_at >= day_ago)
    failed = await _count(session, Job.status == states.FAILED, Job.finished_at >= day_ago)
    job_ratio = completed / (completed + failed) if completed + failed else 1.0
    bus = core.bus
    published = bus.published if isinstance(bus, MemoryBus | RedisBus) else 0
    dropped = bus.dropped if isinstance(bus, MemoryBus | RedisBus) else 0
    delivery_ratio = 1 - dropped / published if published else 1.0
    bus_ok = await bus.healthy()

    stale_cutoff = now - core.job_runtime.stale_after
    stale_jobs = await _count(session, Job.status == states.RUNNING, Job.heartbeat_at < stale_cutoff)
    failed_deliveries = await _count(
        session,
        WebhookDelivery.status == "failed",
        WebhookDelivery.created_at >= now - timedelta(hours=1),
        model=WebhookDelivery,
    )
    events_last_hour = await _count(
        session, GoldrushEvent.received_at >= now - timedelta(hours=1), model=GoldrushEvent
    )
    patterns_active = await _count(session, model=GoldrushPattern)
    audit = "in_sync" if stale_jobs == 0 and failed_deliveries == 0 else "discrepancy"

    signals_today = list(
        (
            await session.execute(
                select(AlgedonicSignal.propagation, AlgedonicSignal.created_at).where(
                    AlgedonicSignal.created_at >= day_ago
                )
            )
        ).all()
    )
    to_s4 = sum(1 for propagation, _at in signals_today if "s4" in propagation)
    absorbed = sum(1 for propagation, _at in signals_today if "s5" not in propagation)
    variety = round(absorbed / len(signals_today), 2) if signals_today else 1.0
    decisions = sum(1 for propagation, at in signals_today if "s5" in propagation and at >= midnight)

    systems: dict[str, dict[str, Any]] = {
        "s1": {
            "status": "operational" if core.runner is not None else "degraded",
            "agents": agents,
            "load": load,
        },
        "s2": {
            "status": "operational" if bus_ok else "degraded",
            "coordination_efficiency": round(job_ratio * delivery_ratio, 2),
        },
        "s3": {
            "status": "operational" if audit == "in_sync" else "degraded",
            "audit_status": audit,
            "last_audit": isoformat_z(now),
            "stale_jobs": stale_jobs,
            "failed_deliveries": failed_deliveries,
            "events_last_hour": events_last_hour,
            "patterns_active": patterns_active,
        },
        "s4": {"status": "operational", "intelligence_insights": to_s4, "variety_absorption": variety},
        "s5": {
            "status": "operational",
            "policy_version": core.settings.vsm.policy_version,
            "decisions_today": decisions,
        },
    }
    healthy = all(system["status"] == "operational" for system in systems.values())
    return StatusResponse(
        status="healthy" if healthy else "degraded", systems=systems, timestamp=isoformat_z(now)
    )
