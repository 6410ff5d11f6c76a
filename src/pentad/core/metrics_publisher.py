"""Publishes spec 000's `system.metric` messages: this service's real CPU, memory, operations per second
and job queue depth, every `bus.metrics_interval_seconds`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from pentad.core import channels
from pentad.core.bus import Bus
from pentad.core.db import isoformat_z, utcnow
from pentad.core.telemetry import Telemetry

log = logging.getLogger(__name__)


class MetricsPublisher:
    def __init__(
        self, bus: Bus, telemetry: Telemetry, queue_depth: Callable[[], int], interval: float
    ) -> None:
        self._bus = bus
        self._telemetry = telemetry
        self._queue_depth = queue_depth
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._last_requests = telemetry.requests_total

    async def publish_once(self) -> None:
        requests = self._telemetry.requests_total
        rate = (requests - self._last_requests) / self._interval
        self._last_requests = requests
        resources = self._telemetry.resources()
        await self._bus.publish(
            channels.SYSTEM_METRICS,
            "system.metric",
            {
                # S1 is the operational system: this node's own work
                "system": "s1",
                "metrics": {
                    "cpu": resources["system_cpu_percent"],
                    "memory": resources["system_memory_percent"],
                    "operations_per_second": round(rate, 2),
                    "queue_depth": self._queue_depth(),
                },
                "timestamp": isoformat_z(utcnow()),
            },
        )

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.publish_once()
            except Exception as exc:  # a metrics hiccup must never take the loop down
                log.warning("system.metric publish failed: %s", exc)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="pentad-system-metrics")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
