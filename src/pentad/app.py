"""Composition root: `create_app(settings)` builds the ASGI app, mounts the enabled surfaces, and its
lifespan opens (and closes) every engine, pool and client. Nothing connects at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from pentad import __version__
from pentad.config import Settings, load_settings
from pentad.core import probes
from pentad.core.context import CoreServices
from pentad.core.db import Database
from pentad.core.edge.idempotency import IdempotencyMiddleware
from pentad.core.edge.middleware import EdgeMiddleware
from pentad.core.edge.ratelimit import RateLimiter
from pentad.core.errorhandlers import install_error_handlers
from pentad.core.identity.bootstrap import (
    announce_generated_password,
    ensure_admin,
    ensure_api_key_users,
    resolve_jwt_secret,
)
from pentad.core.identity.service import IdentityService
from pentad.core.identity.tokens import TokenCodec
from pentad.core.surfaces import SurfaceMap
from pentad.core.telemetry import ComponentHealth, HealthRegistry, Telemetry
from pentad.migrations import upgrade
from pentad.surfaces import assistant, builds, crm, gateway, vsm
from pentad.surfaces.builds import auth as builds_auth
from pentad.surfaces.builds import health as builds_health
from pentad.surfaces.crm import info as crm_info
from pentad.surfaces.vsm import auth as vsm_auth

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
    return CoreServices(
        settings=settings,
        db=Database(
            settings.database_url,
            echo=settings.database.echo,
            pool_size=settings.database.pool_size,
            schema=settings.database.schema_name,
        ),
        codec=codec,
        identity=IdentityService(
            codec, settings.security.api_key_users, settings.security.auth_cache_seconds
        ),
        limiter=RateLimiter(settings.rate_limits, settings.redis.url, settings.redis.key_prefix),
        surfaces=surfaces,
        telemetry=Telemetry(),
        health=HealthRegistry(),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings if settings is not None else load_settings()
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
    # Starlette runs the last added middleware first: the edge wraps everything, idempotency sits inside.
    app.add_middleware(IdempotencyMiddleware, core=lambda: core)
    app.add_middleware(EdgeMiddleware, core=lambda: core)

    app.include_router(probes.router)
    if settings.surfaces.vsm:
        app.include_router(vsm_auth.router)
    if settings.surfaces.crm:
        app.include_router(crm_info.router)
    if settings.surfaces.builds:
        app.include_router(builds_auth.router)
        app.include_router(builds_health.router)
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

    if settings.redis.url:
        from redis.asyncio import Redis

        core.redis = Redis.from_url(settings.redis.url)

    async def database_health() -> ComponentHealth:
        return ComponentHealth(healthy=True, latency_ms=await core.db.ping())

    async def cache_health() -> ComponentHealth:
        if core.redis is None:
            return ComponentHealth(healthy=True, detail={"backend": "memory"})
        pong = await core.redis.ping()
        return ComponentHealth(healthy=bool(pong), detail={"backend": "redis"})

    core.health.register("database", database_health)
    core.health.register("cache", cache_health)


async def _stop(core: CoreServices) -> None:
    if core.redis is not None:
        await core.redis.aclose()
    await core.db.dispose()
