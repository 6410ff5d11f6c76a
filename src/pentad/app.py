"""Composition root: `create_app(settings)` builds the ASGI app, mounts the enabled surfaces, and its
lifespan opens (and closes) every engine, pool and client. Nothing connects at import."""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from redis.asyncio import Redis

from pentad import __version__
from pentad.config import Settings, load_settings
from pentad.core import probes
from pentad.core.bus import Bus, MemoryBus, RedisBus
from pentad.core.context import CoreServices, JobRunner
from pentad.core.db import Database
from pentad.core.edge.idempotency import IdempotencyMiddleware
from pentad.core.edge.middleware import EdgeMiddleware
from pentad.core.edge.ratelimit import RateLimiter
from pentad.core.envelope_schemas import document_errors
from pentad.core.errorhandlers import install_error_handlers
from pentad.core.identity.bootstrap import (
    announce_generated_password,
    ensure_admin,
    ensure_api_key_users,
    resolve_jwt_secret,
)
from pentad.core.identity.service import IdentityService
from pentad.core.identity.tokens import TokenCodec
from pentad.core.jobs.executor import JobRuntime
from pentad.core.jobs.inprocess import InProcessRunner
from pentad.core.jobs.registry import JobRegistry
from pentad.core.jobs.service import JobService
from pentad.core.logsetup import quiet_parameter_loggers
from pentad.core.metrics_publisher import MetricsPublisher
from pentad.core.surfaces import SurfaceMap
from pentad.core.telemetry import ComponentHealth, HealthRegistry, Telemetry
from pentad.core.webhooks.dispatcher import WebhookDispatcher
from pentad.core.webhooks.service import WebhookService
from pentad.engines.llm.access import close_llm, llm_service
from pentad.engines.logs.loki import LokiPusher
from pentad.engines.logs.store import LogStore
from pentad.engines.sandbox.access import close_sandbox
from pentad.migrations import upgrade
from pentad.surfaces import assistant, builds, crm, gateway, vsm
from pentad.surfaces.assistant import chat as assistant_chat
from pentad.surfaces.assistant import health as assistant_health
from pentad.surfaces.assistant import router as assistant_router
from pentad.surfaces.assistant import whatsapp as assistant_whatsapp
from pentad.surfaces.assistant.router import close_providers
from pentad.surfaces.builds import auth as builds_auth
from pentad.surfaces.builds import health as builds_health
from pentad.surfaces.builds import jobs as builds_jobs
from pentad.surfaces.builds import router as builds_router
from pentad.surfaces.builds import ws as builds_ws
from pentad.surfaces.crm import chat as crm_chat
from pentad.surfaces.crm import info as crm_info
from pentad.surfaces.crm import jobs as crm_jobs
from pentad.surfaces.crm import realtime as crm_realtime
from pentad.surfaces.crm import router as crm_router
from pentad.surfaces.gateway import integrations as gateway_integrations
from pentad.surfaces.gateway import jobs as gateway_jobs
from pentad.surfaces.gateway import logs as gateway_logs
from pentad.surfaces.gateway import router as gateway_router
from pentad.surfaces.gateway import tasks as gateway_tasks
from pentad.surfaces.vsm import agents as vsm_agents
from pentad.surfaces.vsm import algedonic as vsm_algedonic
from pentad.surfaces.vsm import auth as vsm_auth
from pentad.surfaces.vsm import goldrush as vsm_goldrush
from pentad.surfaces.vsm import llm as vsm_llm
from pentad.surfaces.vsm import realtime as vsm_realtime
from pentad.surfaces.vsm import status as vsm_status
from pentad.surfaces.vsm import webhooks as vsm_webhooks

log = logging.getLogger("pentad")

OPENAPI_URL = "/api-docs/openapi.json"


def build_core(settings: Settings) -> CoreServices:
    settings.server.data_dir.mkdir(parents=True, exist_ok=True)
    codec = TokenCodec(
        resolve_jwt_secret(settings),
        settings.security.jwt_algorithm,
        settings.security.jwt_issuer,
        settings.security.access_token_ttl_seconds,
        settings.security.refresh_token_ttl_seconds,
    )
    surfaces = SurfaceMap(default="assistant")
    enabled = settings.surfaces
    if enabled.vsm:
        surfaces.register("vsm", *vsm.PREFIXES)
    if enabled.assistant:
        surfaces.register("assistant", *assistant.PREFIXES)
    if enabled.crm:
        surfaces.register("crm", *crm.PREFIXES)
    if enabled.gateway:
        surfaces.register("gateway", *gateway.PREFIXES)
    if enabled.builds:
        surfaces.register("builds", *builds.PREFIXES)
    redis = Redis.from_url(settings.redis.url) if settings.redis.url else None
    bus: Bus
    if settings.bus.backend == "redis" and redis is not None:
        bus = RedisBus(redis, settings.redis.key_prefix)
    else:
        bus = MemoryBus()
    db = Database(
        settings.database_url,
        echo=settings.database.echo,
        pool_size=settings.database.pool_size,
        schema=settings.database.schema_name,
    )
    registry = build_job_registry(settings)
    runtime = JobRuntime(db=db, bus=bus, registry=registry, heartbeat_seconds=settings.jobs.heartbeat_seconds)

    async def not_started(job_id: uuid.UUID) -> None:
        # before the lifespan starts a runner, the poll loop picks the job up once it runs
        return None

    core = CoreServices(
        settings=settings,
        db=db,
        codec=codec,
        identity=IdentityService(
            codec, settings.security.api_key_users, settings.security.auth_cache_seconds
        ),
        limiter=RateLimiter(settings.rate_limits, settings.redis.url, settings.redis.key_prefix),
        surfaces=surfaces,
        telemetry=Telemetry(),
        health=HealthRegistry(),
        bus=bus,
        job_registry=registry,
        job_runtime=runtime,
        jobs=JobService(registry, bus, not_started),
        webhooks=WebhookService(settings.webhooks, lambda: None),
        redis=redis,
    )
    runtime.resources["core"] = core  # job handlers reach services through the same kernel
    log_store = LogStore(db)
    core.extras["log_store"] = log_store
    runtime.log_sink = log_store.write  # job log lines land in the logs engine's searchable store
    if settings.gateway.loki_url:
        loki = LokiPusher(settings.gateway.loki_url)
        core.extras["loki"] = loki

        async def store_and_push(records: list[dict[str, Any]]) -> None:
            await log_store.write(records)
            await loki.push(records)

        runtime.log_sink = store_and_push
    return core


def build_job_registry(settings: Settings) -> JobRegistry:
    """Every job type this deployment runs; the API and `pentad worker` build the same one."""
    registry = JobRegistry()
    crm_jobs.register(registry)
    gateway_jobs.register(registry)
    vsm_agents.register(registry)
    assistant_whatsapp.register(registry)
    builds_jobs.register(registry)
    for module_name in settings.jobs.extra_modules:
        module = importlib.import_module(module_name)
        module.register(registry)
    return registry


def build_runner(core: CoreServices) -> JobRunner:
    settings = core.settings.jobs
    if settings.runner == "celery":
        from pentad.core.jobs.celery_runner import CeleryDispatcher

        return CeleryDispatcher(
            core.job_runtime,
            broker_url=settings.broker_url or core.settings.redis.url or "",
            queue=settings.celery_queue,
            sweep_seconds=max(0.2, settings.heartbeat_seconds),
        )
    return InProcessRunner(
        core.job_runtime, concurrency=settings.concurrency, poll_seconds=settings.poll_seconds
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings if settings is not None else load_settings()
    quiet_parameter_loggers()  # whoever configured logging, SQL parameters (secrets) stay out of it
    core = build_core(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await _start(core)
        try:
            yield
        finally:
            await _stop(core)

    app = FastAPIOffline(
        title="Pentad",
        version=__version__,
        summary="Five API documents on one self-hosted service",
        docs_url="/swagger-ui/",
        redoc_url="/redoc/",
        openapi_url=OPENAPI_URL,
        lifespan=lifespan,
    )
    app.state.core = core
    install_error_handlers(app)
    document_errors(app, core.surfaces)
    # Starlette runs the last added middleware first: the edge wraps everything, idempotency sits inside.
    app.add_middleware(IdempotencyMiddleware, core=lambda: core)
    app.add_middleware(EdgeMiddleware, core=lambda: core)

    app.include_router(probes.router)
    if settings.surfaces.vsm:
        app.include_router(vsm_auth.router)
        app.include_router(vsm_realtime.router)
        app.include_router(vsm_webhooks.router)
        app.include_router(vsm_agents.router)
        app.include_router(vsm_algedonic.router)
        app.include_router(vsm_status.router)
        app.include_router(vsm_llm.router)
        app.include_router(vsm_goldrush.router)
    if settings.surfaces.assistant:
        app.include_router(assistant_router.router)
        app.include_router(assistant_chat.router)
        app.include_router(assistant_whatsapp.router)
    if settings.surfaces.crm:
        app.include_router(crm_info.router)
        app.include_router(crm_router.router)
        app.include_router(crm_chat.router)
        app.include_router(crm_realtime.router)
    if settings.surfaces.gateway:
        app.include_router(gateway_tasks.router)
        app.include_router(gateway_router.router)
        app.include_router(gateway_logs.router)
        app.include_router(gateway_integrations.router)
    if settings.surfaces.builds:
        app.include_router(builds_auth.router)
        app.include_router(builds_health.router)
        app.include_router(builds_router.router)
        app.include_router(builds_ws.router)
    return app


async def _start(core: CoreServices) -> None:
    settings = core.settings
    if settings.database.migrate_on_start:
        await upgrade(core.db)
    async with core.db.transaction() as session:
        generated = await ensure_admin(session, core.identity, settings)
        await ensure_api_key_users(session, core.identity)
    if generated:
        announce_generated_password(settings.security.admin_email, generated)

    await core.bus.start()
    core.runner = build_runner(core)
    core.jobs.set_dispatch(core.runner.dispatch)
    await core.runner.start()
    runner = core.runner
    publisher = MetricsPublisher(
        core.bus, core.telemetry, lambda: runner.queue_depth, settings.bus.metrics_interval_seconds
    )
    publisher.start()
    core.extras["metrics_publisher"] = publisher
    dispatcher = WebhookDispatcher(core.db, settings.webhooks)
    core.webhooks.set_wake(dispatcher.wake)
    dispatcher.start()
    core.extras["webhook_dispatcher"] = dispatcher

    async def database_health() -> ComponentHealth:
        return ComponentHealth(healthy=True, latency_ms=await core.db.ping())

    async def cache_health() -> ComponentHealth:
        if core.redis is None:
            return ComponentHealth(healthy=True, detail={"backend": "memory"})
        pong = await core.redis.ping()
        return ComponentHealth(healthy=bool(pong), detail={"backend": "redis"})

    async def bus_health() -> ComponentHealth:
        return ComponentHealth(healthy=await core.bus.healthy(), detail={"backend": settings.bus.backend})

    core.health.register("database", database_health)
    core.health.register("cache", cache_health)

    async def inference_health() -> ComponentHealth:
        result = await llm_service(core).health()
        return ComponentHealth(
            healthy=result.healthy,
            latency_ms=result.latency_ms,
            detail={"model": result.model, **({"status": result.detail} if result.detail else {})},
        )

    core.health.register("event_bus", bus_health)
    core.health.register("inference", inference_health)
    if settings.surfaces.assistant:
        assistant_health.register(core)
    if settings.surfaces.vsm:
        vsm_goldrush.register_actions(core)


async def _stop(core: CoreServices) -> None:
    publisher = core.extras.pop("metrics_publisher", None)
    if isinstance(publisher, MetricsPublisher):
        await publisher.stop()
    dispatcher = core.extras.pop("webhook_dispatcher", None)
    if isinstance(dispatcher, WebhookDispatcher):
        await dispatcher.stop()
    if core.runner is not None:
        await core.runner.stop()
    await close_sandbox(core)
    await close_providers(core)
    await close_llm(core)
    loki = core.extras.pop("loki", None)
    if isinstance(loki, LokiPusher):
        await loki.close()
    await core.bus.close()
    if core.redis is not None:
        await core.redis.aclose()
    await core.db.dispose()
