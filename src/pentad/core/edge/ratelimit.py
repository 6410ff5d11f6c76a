"""Rate limits with the `limits` library: fixed windows, memory storage or Redis storage.

Each surface has its document's policy (several windows may apply, e.g. 1000/hour and a 100/minute
burst); some routes add their own (spec 004 build creation 10/minute). Every window must admit the
request. The headers describe the window closest to running out.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError

from pentad.config import RateLimitSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds when the reported window resets
    retry_after: int

    def headers(self) -> dict[str, str]:
        values = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }
        if not self.allowed:
            values["Retry-After"] = str(self.retry_after)
        return values


@dataclass(frozen=True, slots=True)
class RoutePolicy:
    name: str
    method: str
    path: str
    limits: tuple[RateLimitItem, ...]


class RateLimiter:
    def __init__(
        self, settings: RateLimitSettings, redis_url: str | None, key_prefix: str = "pentad"
    ) -> None:
        self.enabled = settings.enabled
        self.backend = settings.storage
        storage: Storage
        if settings.storage == "redis" and redis_url:
            # wrap_exceptions turns connection failures into StorageError, which we fail open on
            storage = RedisStorage(
                redis_url.replace("redis://", "async+redis://", 1),
                implementation="redispy",
                key_prefix=f"{key_prefix}:rl",
                wrap_exceptions=True,
            )
        else:
            storage = MemoryStorage()
        self.storage = storage
        self._strategy = FixedWindowRateLimiter(storage)
        self._surface_limits: dict[str, tuple[RateLimitItem, ...]] = {
            name: tuple(parse_many(getattr(settings, name)))
            for name in ("vsm", "assistant", "crm", "gateway", "builds")
        }
        # spec 001 limits per IP; the others per API key or user
        self._key_by_ip = {"assistant"}
        self._routes = [
            RoutePolicy("build_create", "POST", "/api/build", tuple(parse_many(settings.build_create))),
            RoutePolicy(
                "analysis_create", "POST", "/api/analysis", tuple(parse_many(settings.analysis_create))
            ),
        ]
        self.degraded_since: float | None = None

    def keys_by_ip(self, surface: str) -> bool:
        return surface in self._key_by_ip

    def _applicable(self, surface: str, method: str, path: str) -> list[tuple[str, RateLimitItem]]:
        items = [(surface, item) for item in self._surface_limits.get(surface, ())]
        normalized = path.rstrip("/") or "/"
        for route in self._routes:
            if route.method == method and route.path == normalized:
                items.extend((route.name, item) for item in route.limits)
        return items

    async def check(self, surface: str, method: str, path: str, caller: str) -> RateDecision | None:
        if not self.enabled:
            return None
        applicable = self._applicable(surface, method, path)
        if not applicable:
            return None
        try:
            return await self._check(applicable, caller)
        except StorageError as exc:
            # Fail open: a dead Redis must not turn every request into an error (see docs/operations.md).
            if self.degraded_since is None:
                self.degraded_since = time.time()
                log.warning("rate limit storage unavailable, not limiting: %s", exc)
            return None

    async def _check(self, applicable: list[tuple[str, RateLimitItem]], caller: str) -> RateDecision:
        now = time.time()
        reported: RateDecision | None = None
        for namespace, item in applicable:
            allowed = await self._strategy.hit(item, namespace, caller)
            stats = await self._strategy.get_window_stats(item, namespace, caller)
            reset = math.ceil(stats.reset_time)
            decision = RateDecision(
                allowed=allowed,
                limit=item.amount,
                remaining=max(0, stats.remaining),
                reset=reset,
                # Redis reports whole-second reset times; never promise longer than the window itself
                retry_after=min(item.get_expiry(), max(1, math.ceil(stats.reset_time - now))),
            )
            if not allowed:
                return decision
            if reported is None or decision.remaining / decision.limit < reported.remaining / reported.limit:
                reported = decision
        self.degraded_since = None
        assert reported is not None
        return reported

    async def healthy(self) -> bool:
        try:
            return bool(await self.storage.check())
        except Exception:
            return False

    async def reset(self) -> None:
        await self.storage.reset()
