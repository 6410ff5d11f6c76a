"""Window state for aggregates and sequences: in this process's memory by default, in Redis when
configured so that every node counts into the same window.

Windows slide over processing time (when the event reached Pentad), so a client's clock cannot stretch
or empty them. An aggregate window holds (time, value) entries; when an event makes the aggregate meet
its threshold the pattern fires and that window starts again empty, so a burst of failed logins locks an
account once, not once per further attempt. A sequence keeps the times its first step was seen; the
second step consumes the oldest one still inside the window.
"""

from __future__ import annotations

import math
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol

from redis.exceptions import RedisError

from pentad.core.errors import ServiceUnavailable
from pentad.engines.goldrush.compiler import threshold_met

if TYPE_CHECKING:
    from redis.asyncio import Redis

MAX_ENTRIES_PER_WINDOW: Final = 100_000
_SWEEP_EVERY: Final = 10_000  # memory store: drop idle windows after this many observations


@dataclass(frozen=True, slots=True)
class Observation:
    fired: bool
    value: float | None  # the aggregate once this event is counted (None: an empty min/max/avg)


class WindowStore(Protocol):
    async def observe(
        self,
        key: str,
        now: float,
        window: float,
        value: float,
        function: str,
        op: str,
        threshold: float,
    ) -> Observation: ...

    async def remember(self, key: str, now: float, window: float) -> None: ...

    async def consume(self, key: str, now: float, window: float) -> bool: ...

    async def forget(self, prefix: str) -> None: ...


def _measure(values: list[float], function: str) -> float | None:
    if not values:
        return None
    if function == "sum":
        return math.fsum(values)
    if function == "avg":
        return math.fsum(values) / len(values)
    return min(values) if function == "min" else max(values)


class MemoryWindows:
    def __init__(self, max_entries: int = MAX_ENTRIES_PER_WINDOW) -> None:
        self.max_entries = max_entries
        self._aggregates: dict[str, deque[tuple[float, float]]] = {}
        self._sequences: dict[str, deque[float]] = {}
        self._observed = 0

    async def observe(
        self,
        key: str,
        now: float,
        window: float,
        value: float,
        function: str,
        op: str,
        threshold: float,
    ) -> Observation:
        entries = self._aggregates.setdefault(key, deque())
        cutoff = now - window
        while entries and entries[0][0] <= cutoff:
            entries.popleft()
        entries.append((now, value))
        if len(entries) > self.max_entries:
            entries.popleft()
        if function == "count":
            measured: float | None = float(len(entries))
        else:
            measured = _measure([entry[1] for entry in entries], function)
        fired = measured is not None and threshold_met(measured, op, threshold)
        if fired:
            del self._aggregates[key]
        self._sweep(now, window)
        return Observation(fired, measured)

    async def remember(self, key: str, now: float, window: float) -> None:
        times = self._sequences.setdefault(key, deque())
        self._prune(times, now - window)
        times.append(now)
        if len(times) > self.max_entries:
            times.popleft()
        self._sweep(now, window)

    async def consume(self, key: str, now: float, window: float) -> bool:
        times = self._sequences.get(key)
        if not times:
            return False
        self._prune(times, now - window)
        if not times:
            del self._sequences[key]
            return False
        times.popleft()
        return True

    async def forget(self, prefix: str) -> None:
        for store in (self._aggregates, self._sequences):
            for key in [key for key in store if key.startswith(prefix)]:
                del store[key]

    @staticmethod
    def _prune(times: deque[float], cutoff: float) -> None:
        while times and times[0] <= cutoff:
            times.popleft()

    def _sweep(self, now: float, window: float) -> None:
        # a `by ip` window per address would otherwise keep every address ever seen
        self._observed += 1
        if self._observed % _SWEEP_EVERY:
            return
        cutoff = now - window
        for key in [key for key, entries in self._aggregates.items() if entries[-1][0] <= cutoff]:
            del self._aggregates[key]
        for key in [key for key, times in self._sequences.items() if not times or times[-1] <= cutoff]:
            del self._sequences[key]

    @property
    def open_windows(self) -> int:
        return len(self._aggregates) + len(self._sequences)


# One round trip each, atomic on the Redis server: add, prune, measure, fire-and-reset.
_OBSERVE: Final = """
local key = KEYS[1]
local now, cutoff, value = ARGV[1], ARGV[2], ARGV[3]
local fn, op, threshold = ARGV[4], ARGV[5], tonumber(ARGV[6])
redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff)
redis.call('ZADD', key, now, ARGV[7] .. ':' .. value)
if redis.call('ZCARD', key) > tonumber(ARGV[9]) then redis.call('ZPOPMIN', key) end
redis.call('PEXPIRE', key, ARGV[8])
local measured
if fn == 'count' then
  measured = redis.call('ZCARD', key)
else
  local members = redis.call('ZRANGE', key, 0, -1)
  local total, low, high, n = 0, nil, nil, 0
  for _, member in ipairs(members) do
    local v = tonumber(string.match(member, ':(.*)$'))
    total = total + v
    n = n + 1
    if low == nil or v < low then low = v end
    if high == nil or v > high then high = v end
  end
  if n == 0 then return {0, ''} end
  if fn == 'sum' then measured = total
  elseif fn == 'avg' then measured = total / n
  elseif fn == 'min' then measured = low
  else measured = high end
end
local fired = false
if op == '>' then fired = measured > threshold
elseif op == '>=' then fired = measured >= threshold
elseif op == '<' then fired = measured < threshold
elseif op == '<=' then fired = measured <= threshold
elseif op == '==' then fired = measured == threshold
else fired = measured ~= threshold end
if fired then redis.call('DEL', key) end
return {fired and 1 or 0, string.format('%.17g', measured)}
"""

_REMEMBER: Final = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
if redis.call('ZCARD', KEYS[1]) > tonumber(ARGV[5]) then redis.call('ZPOPMIN', KEYS[1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

_CONSUME: Final = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local oldest = redis.call('ZPOPMIN', KEYS[1])
return #oldest > 0 and 1 or 0
"""


@contextmanager
def _reachable() -> Iterator[None]:
    """A window that cannot be read cannot be counted honestly: the event is refused, not half-matched."""
    try:
        yield
    except (RedisError, OSError) as error:
        raise ServiceUnavailable(
            "GoldRush window state (Redis) is unavailable; retry shortly",
            details={"reason": type(error).__name__},
            headers={"Retry-After": "5"},
        ) from None


def _ttl_ms(window: float) -> str:
    return str(int(window * 1000) + 1000)


class RedisWindows:
    """Keys: `<prefix>a:<pattern>:<group>` (aggregates) and `<prefix>s:<pattern>:<group>` (sequences)."""

    def __init__(
        self, redis: Redis, prefix: str = "pentad:goldrush:", max_entries: int = MAX_ENTRIES_PER_WINDOW
    ):
        self.redis = redis
        self.prefix = prefix
        self.max_entries = max_entries
        self._observe = redis.register_script(_OBSERVE)
        self._remember = redis.register_script(_REMEMBER)
        self._consume = redis.register_script(_CONSUME)

    async def observe(
        self,
        key: str,
        now: float,
        window: float,
        value: float,
        function: str,
        op: str,
        threshold: float,
    ) -> Observation:
        arguments: list[str | int] = [
            repr(now),
            repr(now - window),
            repr(value),
            function,
            op,
            repr(threshold),
            uuid.uuid4().hex,
            _ttl_ms(window),
            self.max_entries,
        ]
        with _reachable():
            fired, measured = await self._observe(keys=[f"{self.prefix}a:{key}"], args=arguments)
        text = measured.decode() if isinstance(measured, bytes) else str(measured)
        return Observation(bool(int(fired)), float(text) if text else None)

    async def remember(self, key: str, now: float, window: float) -> None:
        with _reachable():
            await self._remember(
                keys=[f"{self.prefix}s:{key}"],
                args=[repr(now), repr(now - window), uuid.uuid4().hex, _ttl_ms(window), self.max_entries],
            )

    async def consume(self, key: str, now: float, window: float) -> bool:
        with _reachable():
            return bool(int(await self._consume(keys=[f"{self.prefix}s:{key}"], args=[repr(now - window)])))

    async def forget(self, prefix: str) -> None:
        with _reachable():
            for kind in ("a", "s"):
                match = f"{self.prefix}{kind}:{prefix}*"
                async for name in self.redis.scan_iter(match=match, count=500):
                    await self.redis.delete(name)
