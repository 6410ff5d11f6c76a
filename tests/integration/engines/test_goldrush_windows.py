"""Window state in the real Redis: the same behaviour as in memory, and two Pentad nodes counting into
one window (patterns created on one node match on the other at once)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest
from redis.asyncio import Redis

from pentad.engines.goldrush.windows import RedisWindows
from tests.helpers import REDIS_URL, RunningApp, SettingsFactory, login_admin

pytestmark = pytest.mark.redis


@pytest.fixture
async def windows() -> AsyncIterator[RedisWindows]:
    redis = Redis.from_url(REDIS_URL)
    store = RedisWindows(redis, prefix=f"pentad-test-{secrets.token_hex(4)}:goldrush:")
    yield store
    async for key in redis.scan_iter(match=f"{store.prefix}*"):
        await redis.delete(key)
    await redis.aclose()


async def test_count_fires_once_then_restarts(windows: RedisWindows) -> None:
    fired = [(await windows.observe("p:", float(t), 300, 1.0, "count", ">", 5)).fired for t in range(12)]
    assert fired == [False] * 5 + [True] + [False] * 5 + [True]


async def test_entries_slide_out(windows: RedisWindows) -> None:
    for t in (0.0, 10.0, 20.0):
        await windows.observe("p:", t, 30, 1.0, "count", ">", 100)
    assert (await windows.observe("p:", 35.0, 30, 1.0, "count", ">", 100)).value == 3
    assert (await windows.observe("p:", 50.0, 30, 1.0, "count", ">", 100)).value == 2


@pytest.mark.parametrize(
    ("function", "expected"), [("sum", 12.5), ("avg", 12.5 / 3), ("min", 1.25), ("max", 8.0), ("count", 3.0)]
)
async def test_functions(windows: RedisWindows, function: str, expected: float) -> None:
    observation = None
    for t, value in enumerate((3.25, 1.25, 8.0)):
        observation = await windows.observe("k", float(t), 60, value, function, ">", 1e9)
    assert observation is not None
    assert observation.value == pytest.approx(expected)
    assert not observation.fired


async def test_sequences_and_forget(windows: RedisWindows) -> None:
    assert not await windows.consume("pat_s:", 0.0, 60)
    await windows.remember("pat_s:", 0.0, 60)
    await windows.remember("pat_s:", 30.0, 60)
    assert await windows.consume("pat_s:", 70.0, 60)
    assert not await windows.consume("pat_s:", 71.0, 60)
    await windows.remember("pat_s:", 80.0, 60)
    await windows.observe("pat_s:", 80.0, 60, 1.0, "count", ">", 10)
    await windows.forget("pat_s:")
    assert not await windows.consume("pat_s:", 81.0, 60)
    assert (await windows.observe("pat_s:", 81.0, 60, 1.0, "count", ">", 10)).value == 1


async def _submit(node: RunningApp, headers: dict[str, str], user: str) -> list[str]:
    response = await node.client.post(
        "/api/goldrush/events", headers=headers, json={"type": "login.failed", "data": {"user_id": user}}
    )
    assert response.status_code == 200, response.text
    return list(response.json()["matched_patterns"])


@pytest.mark.postgres
async def test_two_nodes_count_the_same_window(make_settings: SettingsFactory, start_app: Any) -> None:
    settings = make_settings(
        "postgres", redis={"url": REDIS_URL}, bus={"backend": "redis"}, rate_limits={"enabled": False}
    )
    node_a = await start_app(settings)
    node_b = await start_app(settings)
    headers_a = {"Authorization": f"Bearer {(await login_admin(node_a.client))['access_token']}"}
    headers_b = {"Authorization": f"Bearer {(await login_admin(node_b.client))['access_token']}"}
    created = await node_a.client.post(
        "/api/goldrush/patterns",
        headers=headers_a,
        json={
            "name": "failed_login_threshold",
            "pattern": 'event.type == "login.failed" && count() > 5 within 5m by event.data.user_id',
            "actions": ["lock_account"],
        },
    )
    assert created.status_code == 201, created.text
    results = []
    for attempt in range(6):
        node, headers = (node_a, headers_a) if attempt % 2 else (node_b, headers_b)
        results.append(await _submit(node, headers, "user123"))
    # three failures on each node; the sixth, on node A, crosses the shared threshold
    assert results == [[]] * 5 + [["failed_login_threshold"]]
    # a node that kept its windows in memory would have counted only three
    assert await _submit(node_b, headers_b, "user123") == []
