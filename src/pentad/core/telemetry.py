"""Telemetry: request and inference counters, latency percentiles from real traffic, Prometheus
exposition (own registry per app, so several apps in one process never collide), health probes.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psutil
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# `*_created` series double the exposition and no dashboard reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

LATENCY_SAMPLES = 10_000


@dataclass(frozen=True, slots=True)
class ComponentHealth:
    healthy: bool
    latency_ms: float | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"healthy": self.healthy}
        if self.latency_ms is not None:
            body["latency_ms"] = round(self.latency_ms, 1)
        body.update(self.detail)
        if self.error:
            body["error"] = self.error
        return body


HealthCheck = Callable[[], Awaitable[ComponentHealth]]


class HealthRegistry:
    """Named async checks; each is timed and bounded so one slow dependency cannot hang a probe."""

    def __init__(self, timeout_s: float = 3.0) -> None:
        self._checks: dict[str, HealthCheck] = {}
        self._timeout_s = timeout_s

    def register(self, name: str, check: HealthCheck) -> None:
        self._checks[name] = check

    @property
    def names(self) -> list[str]:
        return list(self._checks)

    async def check(self, name: str) -> ComponentHealth:
        check = self._checks.get(name)
        if check is None:
            return ComponentHealth(healthy=False, error="not configured")
        started = time.perf_counter()
        try:
            result = await asyncio.wait_for(check(), self._timeout_s)
        except TimeoutError:
            return ComponentHealth(healthy=False, error=f"no answer within {self._timeout_s:g}s")
        except Exception as exc:  # a failing dependency is reported, never raised into the probe
            return ComponentHealth(healthy=False, error=type(exc).__name__ + ": " + str(exc)[:200])
        if result.latency_ms is None:
            return ComponentHealth(
                healthy=result.healthy,
                latency_ms=(time.perf_counter() - started) * 1000,
                detail=result.detail,
                error=result.error,
            )
        return result

    async def check_all(self, names: Iterable[str] | None = None) -> dict[str, ComponentHealth]:
        selected = list(names) if names is not None else self.names
        results = await asyncio.gather(*(self.check(name) for name in selected))
        return dict(zip(selected, results, strict=True))


class _UptimeCollector(Collector):
    def __init__(self, started: float) -> None:
        self._started = started

    def collect(self) -> Iterable[GaugeMetricFamily]:
        # A gauge: a counter would be exposed as `app_uptime_seconds_total`, not the documented name
        family = GaugeMetricFamily("app_uptime_seconds", "Application uptime in seconds")
        family.add_metric([], time.monotonic() - self._started)
        yield family


class Telemetry:
    def __init__(self) -> None:
        self.started_monotonic = time.monotonic()
        self.requests_total = 0
        self.requests_by_class = {"success": 0, "client_error": 0, "server_error": 0}
        self.active_requests = 0
        self._latency_sum_ms = 0.0
        self._latencies: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self.inference_total = 0
        self.inference_success = 0
        self.inference_failed = 0
        self.inference_time_sum_ms = 0.0
        self.inference_tokens_total = 0
        self.inference_healthy: bool | None = None
        self._process = psutil.Process(os.getpid())
        self._process.cpu_percent(None)  # first call primes the counter

        self.registry = CollectorRegistry()
        self.registry.register(_UptimeCollector(self.started_monotonic))
        self._http_requests = Counter(
            "http_requests", "Total HTTP requests", ["status"], registry=self.registry
        )
        self._http_duration = Histogram(
            "http_request_duration_seconds",
            "HTTP request duration",
            ["surface"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self._active = Gauge("http_active_requests", "Requests in flight", registry=self.registry)
        self._inference_requests = Counter(
            "inference_requests", "Inference requests", ["outcome"], registry=self.registry
        )
        self._inference_time = Histogram(
            "inference_time_ms",
            "Inference time histogram",
            registry=self.registry,
            buckets=(100, 250, 500, 1000, 2500, 5000, 10000),
        )
        self._inference_tokens = Counter("inference_tokens", "Tokens generated", registry=self.registry)
        self._process_memory = Gauge("process_resident_memory_mb", "Resident memory", registry=self.registry)

    # --- recording --------------------------------------------------------------------------------

    def request_started(self) -> None:
        self.active_requests += 1
        self._active.inc()

    def request_finished(self, status: int, duration_ms: float, surface: str) -> None:
        self.active_requests -= 1
        self._active.dec()
        self.requests_total += 1
        status_class = "success" if status < 400 else "client_error" if status < 500 else "server_error"
        self.requests_by_class[status_class] += 1
        self._http_requests.labels(status=status_class).inc()
        self._http_duration.labels(surface=surface).observe(duration_ms / 1000)
        self._latency_sum_ms += duration_ms
        self._latencies.append(duration_ms)

    def record_inference(self, *, ok: bool, duration_ms: float, tokens: int) -> None:
        self.inference_total += 1
        if ok:
            self.inference_success += 1
        else:
            self.inference_failed += 1
        self.inference_time_sum_ms += duration_ms
        self.inference_tokens_total += tokens
        self._inference_requests.labels(outcome="success" if ok else "failed").inc()
        self._inference_time.observe(duration_ms)
        self._inference_tokens.inc(tokens)

    # --- reading ----------------------------------------------------------------------------------

    @property
    def uptime_seconds(self) -> int:
        return int(time.monotonic() - self.started_monotonic)

    def latency_percentiles(self) -> dict[str, float]:
        samples = sorted(self._latencies)
        if not samples:
            return {"p50_ms": 0.0, "p90_ms": 0.0, "p99_ms": 0.0}
        return {f"p{q}_ms": round(_percentile(samples, q), 1) for q in (50, 90, 99)}

    def resources(self) -> dict[str, float]:
        memory = self._process.memory_info().rss / (1024 * 1024)
        return {
            "memory_used_mb": round(memory, 1),
            "memory_percent": round(self._process.memory_percent(), 1),
            "cpu_percent": round(self._process.cpu_percent(None), 1),
            "system_cpu_percent": round(psutil.cpu_percent(None), 1),
            "system_memory_percent": round(psutil.virtual_memory().percent, 1),
        }

    def json_metrics(self) -> dict[str, Any]:
        finished = max(self.requests_total, 1)
        inference = max(self.inference_total, 1)
        return {
            "uptime_seconds": self.uptime_seconds,
            "http": {
                "requests_total": self.requests_total,
                "requests_success": self.requests_by_class["success"],
                "requests_client_error": self.requests_by_class["client_error"],
                "requests_server_error": self.requests_by_class["server_error"],
                "active_requests": self.active_requests,
                "response_time_avg_ms": round(self._latency_sum_ms / finished, 1)
                if self.requests_total
                else 0,
            },
            "inference": {
                "requests_total": self.inference_total,
                "requests_success": self.inference_success,
                "requests_failed": self.inference_failed,
                "time_avg_ms": round(self.inference_time_sum_ms / inference, 1)
                if self.inference_total
                else 0,
                "tokens_total": self.inference_tokens_total,
                "healthy": self.inference_healthy,
            },
        }

    def prometheus(self) -> bytes:
        self._process_memory.set(self._process.memory_info().rss / (1024 * 1024))
        return generate_latest(self.registry)


def _percentile(sorted_samples: list[float], q: int) -> float:
    # nearest-rank: the smallest sample with at least q% of samples at or below it
    rank = max(1, -(-q * len(sorted_samples) // 100))
    return sorted_samples[min(rank, len(sorted_samples)) - 1]
