"""The bus: channel patterns, field filters, bounded queues that drop slow subscribers, Redis fan-out."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from redis.asyncio import Redis

from pentad.core.bus import SLOW_CONSUMER, MemoryBus, RedisBus, channel_matches, filters_match
from tests.helpers import REDIS_URL


def test_channel_patterns() -> None:
    assert channel_matches("vsm.alerts", "vsm.alerts")
    assert not channel_matches("vsm.alerts", "vsm.alerts.extra")
    assert channel_matches("job.*", "job.123")
    assert not channel_matches("job.*", "jobs")


def test_spec000_filters() -> None:
    filters = {"severity": ["high", "critical"], "systems": ["s1", "s3", "s5"]}
    assert filters_match(filters, {"severity": "high", "system": "s3"})
    assert not filters_match(filters, {"severity": "low", "system": "s3"})
    assert not filters_match(filters, {"severity": "critical", "system": "s2"})
    # a metric carries no severity: only the system filter applies to it
    assert filters_match(filters, {"system": "s1", "metrics": {}})
    assert not filters_match(filters, {"system": "s4", "metrics": {}})


async def test_delivery_respects_patterns_and_filters() -> None:
    bus = MemoryBus()
    alerts = bus.subscribe(["vsm.alerts"], {"severity": ["high"]})
    everything = bus.subscribe(["*"])
    await bus.publish("vsm.alerts", "vsm.alert", {"severity": "low"})
    await bus.publish("vsm.alerts", "vsm.alert", {"severity": "high", "id": 2})
    await bus.publish("system.metrics", "system.metric", {"system": "s1"})
    first = await alerts.get(timeout=1)
    assert first is not None
    assert first.payload["id"] == 2
    assert await alerts.get(timeout=0.05) is None
    assert [m.type for m in [await everything.get(timeout=1) for _ in range(3)] if m] == [
        "vsm.alert",
        "vsm.alert",
        "system.metric",
    ]


async def test_slow_subscriber_is_dropped_and_publisher_never_blocks() -> None:
    bus = MemoryBus()
    slow = bus.subscribe(["metrics"], maxsize=5)
    fast = bus.subscribe(["metrics"], maxsize=1000)
    for n in range(100):
        await asyncio.wait_for(bus.publish("metrics", "m", {"n": n}), timeout=0.5)
    assert slow.closed_reason == SLOW_CONSUMER
    assert await slow.get(timeout=0.1) is None  # the reader learns it was dropped
    received = [
        message.payload["n"] for message in [await fast.get(timeout=1) for _ in range(100)] if message
    ]
    assert received == list(range(100))
    assert bus.subscriber_count == 1
    assert bus.dropped == 1


@pytest.mark.redis
async def test_redis_bus_carries_messages_between_nodes() -> None:
    prefix = f"pentad-test-{secrets.token_hex(4)}"
    redis_a, redis_b = Redis.from_url(REDIS_URL), Redis.from_url(REDIS_URL)
    node_a, node_b = RedisBus(redis_a, prefix), RedisBus(redis_b, prefix)
    await node_a.start()
    await node_b.start()
    try:
        on_a = node_a.subscribe(["vsm.alerts"], {"severity": ["critical"]})
        await asyncio.sleep(0.1)  # let both pattern subscriptions settle in Redis
        await node_b.publish("vsm.alerts", "vsm.alert", {"severity": "info"})
        await node_b.publish("vsm.alerts", "vsm.alert", {"severity": "critical", "message": "from B"})
        message = await on_a.get(timeout=2)
        assert message is not None
        assert message.payload["message"] == "from B"
        assert await on_a.get(timeout=0.2) is None
    finally:
        await node_a.close()
        await node_b.close()
        await redis_a.aclose()
        await redis_b.aclose()
