"""spec 004 health endpoints: basic, Kubernetes readiness and liveness, detailed status."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from pentad.core.db import isoformat_z, utcnow
from pentad.core.identity.dependencies import Core
from pentad.surfaces.builds import API_VERSION

STATUS_COMPONENTS = ("database", "cache", "event_bus", "inference")
router = APIRouter(prefix="/api/health", tags=["Builds: Health"])


class BasicHealth(BaseModel):
    status: str
    timestamp: str
    version: str


class ProbeResponse(BaseModel):
    status: str
    timestamp: str
    checks: dict[str, Any] = {}


class SystemStatus(BaseModel):
    status: str
    timestamp: str
    version: str
    components: dict[str, str]
    metrics: dict[str, float]


@router.get("/", response_model=BasicHealth, summary="Basic health check")
async def basic(core: Core) -> BasicHealth:
    return BasicHealth(status="healthy", timestamp=isoformat_z(utcnow()), version=API_VERSION)


@router.get(
    "/ready",
    response_model=ProbeResponse,
    responses={503: {"model": ProbeResponse}},
    summary="Kubernetes readiness probe",
)
async def ready(core: Core) -> JSONResponse:
    results = await core.health.check_all(["database"])
    healthy = all(result.healthy for result in results.values())
    body = {
        "status": "ready" if healthy else "not_ready",
        "timestamp": isoformat_z(utcnow()),
        "checks": {name: result.as_dict() for name, result in results.items()},
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/live", response_model=ProbeResponse, summary="Kubernetes liveness probe")
async def live() -> ProbeResponse:
    # Answering at all proves the event loop is alive; that is what liveness asks.
    return ProbeResponse(status="alive", timestamp=isoformat_z(utcnow()))


@router.get("/status", response_model=SystemStatus, summary="System status")
async def status(core: Core) -> SystemStatus:
    # this service's own parts; the assistant's outside services (weather, mail...) are /ready/all's
    names = [name for name in STATUS_COMPONENTS if name in core.health.names]
    results = await core.health.check_all(names)
    components = {"api": "healthy"}
    components.update(
        {name: "healthy" if result.healthy else "unhealthy" for name, result in results.items()}
    )
    components.setdefault("cache", "healthy")
    components["security"] = "healthy" if core.limiter.enabled else "degraded"
    telemetry = core.telemetry
    uptime = max(telemetry.uptime_seconds, 1)
    resources = telemetry.resources()
    degraded = any(value != "healthy" for value in components.values())
    return SystemStatus(
        status="degraded" if degraded else "operational",
        timestamp=isoformat_z(utcnow()),
        version=API_VERSION,
        components=components,
        metrics={
            "uptime_seconds": telemetry.uptime_seconds,
            "requests_total": telemetry.requests_total,
            "requests_per_second": round(telemetry.requests_total / uptime, 2),
            "memory_percent": resources["memory_percent"],
            "cpu_percent": resources["cpu_percent"],
        },
    )
