"""The kernel's services for one app instance, built by `pentad.app.create_app` and kept on
`app.state.core`. Edge middleware and FastAPI dependencies read it from there; nothing is global.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pentad.config import Settings
from pentad.core.bus import Bus
from pentad.core.db import Database
from pentad.core.edge.ratelimit import RateLimiter
from pentad.core.identity.service import IdentityService
from pentad.core.identity.tokens import TokenCodec
from pentad.core.jobs.executor import JobRuntime
from pentad.core.jobs.registry import JobRegistry
from pentad.core.jobs.service import JobService
from pentad.core.surfaces import SurfaceMap
from pentad.core.telemetry import HealthRegistry, Telemetry
from pentad.core.webhooks.service import WebhookService

if TYPE_CHECKING:
    from redis.asyncio import Redis


class JobRunner(Protocol):
    queue_depth: int

    async def start(self) -> None: ...
    async def dispatch(self, job_id: uuid.UUID) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class CoreServices:
    settings: Settings
    db: Database
    codec: TokenCodec
    identity: IdentityService
    limiter: RateLimiter
    surfaces: SurfaceMap
    telemetry: Telemetry
    health: HealthRegistry
    bus: Bus
    job_registry: JobRegistry
    job_runtime: JobRuntime
    jobs: JobService
    webhooks: WebhookService
    redis: Redis | None = None
    runner: JobRunner | None = None
    # per-surface and per-engine objects registered by the composition root (e.g. "llm", "bus")
    extras: dict[str, Any] = field(default_factory=dict)
