"""Liveness, readiness and metrics endpoints (spec 001 shapes), served whatever surfaces are enabled:
load balancers and Prometheus need them even when the assistant surface is switched off."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from pentad.core.db import isoformat_z, utcnow
from pentad.core.identity.dependencies import Core

router = APIRouter(tags=["Health & Status"])

READINESS_COMPONENTS = ("database", "inference")
# Reported by /ready but not deciding it: every node shares them, so failing readiness on them would take
# all nodes out of service at once, while requests still work degraded (docs/operations.md).
REPORTED_COMPONENTS = ("cache", "event_bus")


class HealthResponse(BaseModel):
    status: str = Field(examples=["ok"])
    service: str = Field(examples=["vectoros-backend"])
    timestamp: str


class ReadyResponse(BaseModel):
    status: str = Field(examples=["ready"])
    inference: dict[str, Any] | None = None
    database: dict[str, Any] | None = None
    cache: dict[str, Any] | None = None
    event_bus: dict[str, Any] | None = None


class ReadyAllResponse(BaseModel):
    status: str
    services: dict[str, dict[str, Any]]
    latency_percentiles: dict[str, float]


class MetricsResponse(BaseModel):
    uptime_seconds: int
    http: dict[str, Any]
    inference: dict[str, Any]


@router.get("/health", response_model=HealthResponse, summary="Liveness probe")
async def health(core: Core) -> HealthResponse:
    # spec 002's client checks `service`; the spec 001 client reads only `status`
    service = "vectoros-backend" if core.settings.surfaces.crm else "pentad"
    return HealthResponse(status="ok", service=service, timestamp=isoformat_z(utcnow()))


@router.get(
    "/ready",
    response_model=ReadyResponse,
    response_model_exclude_none=True,
    responses={503: {"model": ReadyResponse}},
    summary="Readiness probe with inference engine status",
)
async def ready(core: Core) -> JSONResponse:
    names = [name for name in (*READINESS_COMPONENTS, *REPORTED_COMPONENTS) if name in core.health.names]
    results = await core.health.check_all(names)
    healthy = all(result.healthy for name, result in results.items() if name in READINESS_COMPONENTS)
    body: dict[str, Any] = {"status": "ready" if healthy else "not_ready"}
    body.update({name: result.as_dict() for name, result in results.items()})
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get(
    "/ready/all",
    response_model=ReadyAllResponse,
    responses={503: {"model": ReadyAllResponse}},
    summary="Extended health check with all service statuses",
)
async def ready_all(core: Core) -> JSONResponse:
    results = await core.health.check_all()
    critical = [name for name in READINESS_COMPONENTS if name in results]
    healthy = all(results[name].healthy for name in critical)
    body = {
        "status": "ready" if healthy else "not_ready",
        "services": {name: result.as_dict() for name, result in results.items()},
        "latency_percentiles": core.telemetry.latency_percentiles(),
    }
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get("/metrics", response_model=MetricsResponse, summary="JSON metrics for monitoring")
async def metrics(core: Core) -> dict[str, Any]:
    return core.telemetry.json_metrics()


@router.get(
    "/metrics/prometheus",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
    summary="Prometheus-compatible metrics",
)
async def metrics_prometheus(core: Core) -> Response:
    return Response(core.telemetry.prometheus(), media_type="text/plain; version=0.0.4; charset=utf-8")
