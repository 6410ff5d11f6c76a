"""The edge: request ids, security headers, rate limits (memory and the real Redis), idempotency."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from tests.helpers import REDIS_URL, RunningApp, SettingsFactory, login_admin


async def test_request_id_generated_and_valid_one_echoed(running: RunningApp) -> None:
    generated = await running.client.get("/health")
    uuid.UUID(generated.headers["X-Request-Id"])
    echoed = await running.client.get("/health", headers={"X-Request-Id": "req_abc123"})
    assert echoed.headers["X-Request-Id"] == "req_abc123"
    hostile = await running.client.get("/health", headers={"X-Request-Id": "bad id\twith spaces" + "x" * 200})
    assert hostile.headers["X-Request-Id"] != "bad id\twith spaces"
    uuid.UUID(hostile.headers["X-Request-Id"])


async def test_request_id_in_error_envelopes(running: RunningApp) -> None:
    response = await running.client.get("/api/auth/permissions", headers={"X-Request-Id": "req_xyz"})
    assert response.json()["request_id"] == "req_xyz"
    assistant = await running.client.get("/v1/nowhere", headers={"X-Request-Id": "req_001"})
    assert assistant.json()["error"]["request_id"] == "req_001"


async def test_security_headers(running: RunningApp) -> None:
    response = await running.client.get("/health")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    docs = await running.client.get("/swagger-ui/")
    assert docs.status_code == 200
    assert "script-src 'self'" in docs.headers["Content-Security-Policy"]


@pytest.mark.parametrize("storage", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def test_rate_limit_counts_down_then_429(
    storage: str, make_settings: SettingsFactory, start_app: object
) -> None:
    settings = make_settings(
        rate_limits={"storage": storage, "assistant": "3/minute"},
        redis={"url": REDIS_URL if storage == "redis" else None},
    )
    app: RunningApp = await start_app(settings)  # type: ignore[operator]
    remaining = []
    for _ in range(3):
        response = await app.client.get("/v1/anything")
        assert response.status_code == 404
        assert response.headers["X-RateLimit-Limit"] == "3"
        remaining.append(int(response.headers["X-RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    limited = await app.client.get("/v1/anything")
    assert limited.status_code == 429
    retry_after = int(limited.headers["Retry-After"])
    assert 1 <= retry_after <= 60
    body = limited.json()
    assert body["error"]["code"] == "RATE_LIMITED"
    assert body["error"]["retry_after"] == retry_after
    assert int(limited.headers["X-RateLimit-Reset"]) > 0


@pytest.mark.redis
async def test_redis_limits_are_shared_between_two_nodes(
    make_settings: SettingsFactory, start_app: object
) -> None:
    settings = make_settings(
        rate_limits={"storage": "redis", "assistant": "4/minute"}, redis={"url": REDIS_URL}
    )
    node_a: RunningApp = await start_app(settings)  # type: ignore[operator]
    node_b: RunningApp = await start_app(settings)  # type: ignore[operator]
    statuses = []
    for node in (node_a, node_b, node_a, node_b, node_a):
        statuses.append((await node.client.get("/v1/x")).status_code)
    assert statuses == [404, 404, 404, 404, 429]


async def test_rate_limit_exact_under_concurrency(make_settings: SettingsFactory, start_app: object) -> None:
    app: RunningApp = await start_app(make_settings(rate_limits={"assistant": "10/minute"}))  # type: ignore[operator]
    responses = await asyncio.gather(*(app.client.get("/v1/x") for _ in range(11)))
    assert sorted(r.status_code for r in responses) == [404] * 10 + [429]


async def test_limits_are_per_caller(make_settings: SettingsFactory, start_app: object) -> None:
    app: RunningApp = await start_app(make_settings(rate_limits={"vsm": "2/minute"}))  # type: ignore[operator]
    tokens = await login_admin(app.client)  # one vsm request by IP
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert (await app.client.get("/api/auth/permissions", headers=auth)).status_code == 200
    assert (await app.client.get("/api/auth/permissions", headers=auth)).status_code == 200
    assert (await app.client.get("/api/auth/permissions", headers=auth)).status_code == 429
    # the anonymous caller (keyed by IP) has used one of its own two
    assert (await app.client.get("/api/auth/permissions")).status_code == 401


async def test_build_creation_route_limit_is_tighter(
    make_settings: SettingsFactory, start_app: object
) -> None:
    app: RunningApp = await start_app(make_settings(rate_limits={"build_create": "2/minute"}))  # type: ignore[operator]
    tokens = await login_admin(app.client)
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    first = await app.client.post("/api/build/", headers=auth, json={})
    assert first.headers["X-RateLimit-Limit"] == "2"
    await app.client.post("/api/build/", headers=auth, json={})
    third = await app.client.post("/api/build/", headers=auth, json={})
    assert third.status_code == 429
    assert third.json()["error"] == "rate_limit_exceeded"
    # other spec 004 routes still run on the global 60/minute budget
    other = await app.client.get("/api/health/status", headers=auth)
    assert other.status_code == 200


async def test_idempotency_key_replays_first_response(running: RunningApp) -> None:
    tokens = await login_admin(running.client)
    headers = {"Idempotency-Key": "logout-1", "Authorization": f"Bearer {tokens['access_token']}"}
    body = {"email": "admin@vsmphoenix.io", "password": "admin-password-123"}
    first = await running.client.post("/api/auth/login", json=body, headers={"Idempotency-Key": "login-1"})
    second = await running.client.post("/api/auth/login", json=body, headers={"Idempotency-Key": "login-1"})
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()  # same tokens: the login did not run twice
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    third = await running.client.post("/api/auth/login", json=body, headers={"Idempotency-Key": "login-2"})
    assert third.json()["access_token"] != first.json()["access_token"]
    # a logout under a key revokes once; the replay reports the same 204
    assert (await running.client.post("/api/auth/logout", headers=headers)).status_code == 204
    assert (await running.client.post("/api/auth/logout", headers=headers)).status_code == 204


async def test_idempotency_key_reused_with_other_body_refused(running: RunningApp) -> None:
    body = {"email": "admin@vsmphoenix.io", "password": "admin-password-123"}
    await running.client.post("/api/auth/login", json=body, headers={"Idempotency-Key": "k-1"})
    other = await running.client.post(
        "/api/auth/login", json={**body, "password": "other"}, headers={"Idempotency-Key": "k-1"}
    )
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "VALIDATION_ERROR"


async def test_idempotency_keys_are_scoped_per_caller(running: RunningApp) -> None:
    tokens = await login_admin(running.client)
    body = {"email": "admin@vsmphoenix.io", "password": "admin-password-123"}
    anonymous = await running.client.post("/api/auth/login", json=body, headers={"Idempotency-Key": "shared"})
    as_admin = await running.client.post(
        "/api/auth/login",
        json=body,
        headers={"Idempotency-Key": "shared", "Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert "Idempotent-Replayed" not in as_admin.headers
    assert anonymous.json()["access_token"] != as_admin.json()["access_token"]


async def test_failed_requests_are_not_replayed(running: RunningApp) -> None:
    bad = {"email": "admin@vsmphoenix.io", "password": "wrong"}
    first = await running.client.post("/api/auth/login", json=bad, headers={"Idempotency-Key": "f-1"})
    assert first.status_code == 401
    replay = await running.client.post("/api/auth/login", json=bad, headers={"Idempotency-Key": "f-1"})
    assert replay.status_code == 401
    assert replay.headers.get("Idempotent-Replayed") == "true"  # 4xx is a final answer; 5xx would not be kept


async def test_a_repeat_sent_the_moment_the_answer_arrives_is_replayed(
    make_settings: SettingsFactory, start_server: Any
) -> None:
    """Over real HTTP the client has the answer before the app returns; the record must already be saved
    (found by the SDK's tests: a fast retry used to get 409 "already in progress")."""
    server = await start_server(make_settings(rate_limits={"enabled": False}))
    async with httpx.AsyncClient(base_url=server.url) as client:
        auth = {"Authorization": f"Bearer {(await login_admin(client))['access_token']}"}
        for attempt in range(20):
            headers = {**auth, "Idempotency-Key": f"fast-repeat-{attempt}"}
            body = {"type": "fast.repeat", "data": {"n": attempt}}
            first = await client.post("/api/goldrush/events", headers=headers, json=body)
            again = await client.post("/api/goldrush/events", headers=headers, json=body)
            assert again.status_code == first.status_code == 200, again.text
            assert again.headers["idempotent-replayed"] == "true"
            assert again.json()["event_id"] == first.json()["event_id"]
