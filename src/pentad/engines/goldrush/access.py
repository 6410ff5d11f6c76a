"""The GoldRush engine for this process, built on first use with the window store the settings ask for."""

from __future__ import annotations

from pentad.core.context import CoreServices
from pentad.core.errors import ServiceUnavailable
from pentad.engines.goldrush.actions import ActionRegistry, builtin_actions
from pentad.engines.goldrush.engine import GoldRushEngine
from pentad.engines.goldrush.windows import MemoryWindows, RedisWindows, WindowStore

ENGINE_KEY = "goldrush_engine"
ACTIONS_KEY = "goldrush_actions"


def goldrush_actions(core: CoreServices) -> ActionRegistry:
    """The action registry; surfaces add their own actions here at start-up."""
    registry = core.extras.get(ACTIONS_KEY)
    if not isinstance(registry, ActionRegistry):
        registry = builtin_actions()
        core.extras[ACTIONS_KEY] = registry
    return registry


def _windows(core: CoreServices) -> WindowStore:
    settings = core.settings.goldrush
    backend = settings.window_backend
    if backend == "auto":
        backend = "redis" if core.redis is not None else "memory"
    if backend == "redis":
        if core.redis is None:
            raise ServiceUnavailable("goldrush.window_backend is 'redis' but redis.url is not set")
        return RedisWindows(
            core.redis,
            prefix=f"{core.settings.redis.key_prefix}goldrush:",
            max_entries=settings.max_window_entries,
        )
    return MemoryWindows(max_entries=settings.max_window_entries)


def goldrush_engine(core: CoreServices) -> GoldRushEngine:
    engine = core.extras.get(ENGINE_KEY)
    if not isinstance(engine, GoldRushEngine):
        engine = GoldRushEngine(core, _windows(core), goldrush_actions(core))
        core.extras[ENGINE_KEY] = engine
    return engine
