"""spec 000 §1 GoldRush over HTTP on SQLite and PostgreSQL: the document's examples, windows, sequences,
actions that do real things, webhooks to a real receiver, aggregate queries in the database, errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from pentad.core import channels
from pentad.core.webhooks.signing import verify
from pentad.engines.goldrush.models import GoldrushActionRecord, GoldrushEvent
from pentad.surfaces.vsm.models import AlgedonicSignal
from tests.helpers import RunningApp, SettingsFactory, login_admin
from tests.integration.surfaces.crm_helpers import user_headers
from tests.receivers import Receiver

SECRET = "your-webhook-secret"
HIGH_CPU = {
    "name": "high_cpu_alert",
    "pattern": "metric.type == 'cpu' && metric.value > 90",
    "actions": ["send_alert", "scale_up"],
}
SPEC_EVENT = {
    "type": "metric",
    "data": {"type": "cpu", "value": 95, "host": "server-01"},
    "metadata": {"timestamp": "2024-01-15T10:30:00Z", "source": "monitoring-agent"},
}


@pytest.fixture
async def app(backend: str, make_settings: SettingsFactory, start_app: Any) -> RunningApp:
    settings = make_settings(
        backend,
        webhooks={"allowed_hosts": ["127.0.0.1"], "poll_seconds": 0.05, "backoff_seconds": 0.05},
        rate_limits={"enabled": False},
    )
    return await start_app(settings)  # type: ignore[no-any-return]


async def admin(app: RunningApp) -> dict[str, str]:
    return {"Authorization": f"Bearer {(await login_admin(app.client))['access_token']}"}


async def create(app: RunningApp, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await app.client.post("/api/goldrush/patterns", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def submit(app: RunningApp, headers: dict[str, str], event: dict[str, Any]) -> dict[str, Any]:
    response = await app.client.post("/api/goldrush/events", headers=headers, json=event)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_spec_pattern_event_and_actions(app: RunningApp) -> None:
    headers = await admin(app)
    alerts = app.core.bus.subscribe([channels.VSM_ALERTS])
    matches = app.core.bus.subscribe([channels.GOLDRUSH_MATCHES])
    pattern = await create(app, headers, **HIGH_CPU)
    assert pattern["id"].startswith("pat_")
    assert set(pattern) == {"id", "name", "pattern", "actions", "created_at"}
    assert pattern["created_at"].endswith("Z")

    body = await submit(app, headers, SPEC_EVENT)
    assert body["matched_patterns"] == ["high_cpu_alert"]
    assert body["actions_triggered"] == ["send_alert", "scale_up"]
    assert body["processing_time_ms"] >= 0

    quiet = await submit(app, headers, {**SPEC_EVENT, "data": {"type": "cpu", "value": 40}})
    assert quiet["matched_patterns"] == []
    assert quiet["actions_triggered"] == []

    match = await matches.get(timeout=2)
    assert match is not None
    assert match.type == "goldrush.match"
    assert match.payload["pattern_id"] == pattern["id"]
    assert match.payload["pattern_name"] == "high_cpu_alert"
    assert match.payload["event"] == {"type": "metric", "data": SPEC_EVENT["data"]}
    assert match.payload["actions_triggered"] == ["send_alert", "scale_up"]
    # send_alert's alert, then scale_up's pain signal alerting S3 and S5
    received = [await alerts.get(timeout=2) for _ in range(3)]
    assert [(m.payload["system"], m.payload["data"].get("pattern_name")) for m in received if m] == [
        ("s3", "high_cpu_alert"),
        ("s3", None),
        ("s5", None),
    ]
    async with app.core.db.transaction() as session:
        signal = (await session.execute(select(AlgedonicSignal))).scalar_one()
        assert signal.type == "pain"
        assert "Triggered automatic scaling" in signal.actions_taken
        stored = (await session.execute(select(GoldrushEvent).order_by(GoldrushEvent.id))).scalars().all()
        assert [event.matched_patterns for event in stored] == [["high_cpu_alert"], []]
        assert stored[0].timestamp.isoformat().startswith("2024-01-15T10:30:00")
        assert stored[0].event_metadata["source"] == "monitoring-agent"


async def test_failed_login_threshold_locks_and_notifies(app: RunningApp) -> None:
    headers = await admin(app)
    agent_events = app.core.bus.subscribe([channels.AGENT_EVENTS])
    await create(
        app,
        headers,
        name="failed_login_threshold",
        pattern='event.type == "login.failed" && count() > 5 within 5m by event.data.user_id',
        actions=["lock_account", "notify_security"],
    )
    results = []
    for attempt in range(6):
        event = {"type": "login.failed", "data": {"user_id": "user123", "ip": "192.168.1.1"}}
        results.append((await submit(app, headers, event))["matched_patterns"])
        if attempt < 5:  # another user's five failures count in their own window
            other = await submit(app, headers, {"type": "login.failed", "data": {"user_id": "user456"}})
            assert other["matched_patterns"] == []
    assert results == [[]] * 5 + [["failed_login_threshold"]]
    async with app.core.db.transaction() as session:
        records = (await session.execute(select(GoldrushActionRecord))).scalars().all()
    assert sorted((record.action, record.subject) for record in records) == [
        ("lock_account", "user123"),
        ("notify_security", "user123"),
    ]
    lock = await agent_events.get(timeout=2)
    assert lock is not None
    assert lock.type == "account.lock_requested"
    assert lock.payload["account"] == "user123"


async def test_sequence_by_user(app: RunningApp) -> None:
    headers = await admin(app)
    await create(
        app,
        headers,
        name="login_after_failures",
        pattern="event.type == 'login.failed' then event.type == 'login.success' within 10m by data.user",
        actions=["audit"],
    )
    assert (await submit(app, headers, {"type": "login.success", "data": {"user": "a"}}))[
        "matched_patterns"
    ] == []
    await submit(app, headers, {"type": "login.failed", "data": {"user": "a"}})
    other_user = await submit(app, headers, {"type": "login.success", "data": {"user": "b"}})
    assert other_user["matched_patterns"] == []
    done = await submit(app, headers, {"type": "login.success", "data": {"user": "a"}})
    assert done["matched_patterns"] == ["login_after_failures"]
    assert done["actions_triggered"] == ["audit"]  # no handler here: reported, and sent to webhooks
    again = await submit(app, headers, {"type": "login.success", "data": {"user": "a"}})
    assert again["matched_patterns"] == []  # the failure was consumed by the first success


async def test_pattern_matched_webhook_is_signed_and_carries_unknown_actions(
    app: RunningApp, receiver: Receiver
) -> None:
    headers = await admin(app)
    subscribed = await app.client.post(
        "/api/webhooks",
        headers=headers,
        json={"url": receiver.url, "events": ["pattern.matched"], "secret": SECRET},
    )
    assert subscribed.status_code == 201, subscribed.text
    pattern = await create(
        app, headers, name="deploy_seen", pattern="event.type == 'deploy'", actions=["page_oncall"]
    )
    await submit(app, headers, {"type": "deploy", "data": {"service": "api"}})
    [delivery] = await receiver.wait_for(1)
    assert verify(SECRET, delivery.body, delivery.headers["x-webhook-signature-256"])
    body = json.loads(delivery.body)
    assert body["type"] == "pattern.matched"
    assert body["data"]["pattern_id"] == pattern["id"]
    assert body["data"]["pattern_name"] == "deploy_seen"
    assert body["data"]["matched_event"]["data"] == {"service": "api"}
    assert body["data"]["actions_triggered"] == ["page_oncall"]
    assert body["data"]["actions_handled"] == []


async def test_patterns_list_pages_get_and_delete(app: RunningApp) -> None:
    headers = await admin(app)
    created = [
        await create(app, headers, name=f"p{i}", pattern=f"event.type == 't{i}'", actions=[])
        for i in range(3)
    ]
    page = await app.client.get("/api/goldrush/patterns?page=2&per_page=2", headers=headers)
    assert page.status_code == 200
    assert [item["id"] for item in page.json()] == [created[2]["id"]]
    assert page.headers["x-total-count"] == "3"
    everything = (await app.client.get("/api/goldrush/patterns", headers=headers)).json()
    assert [item["name"] for item in everything] == ["p0", "p1", "p2"]
    one = await app.client.get(f"/api/goldrush/patterns/{created[1]['id']}", headers=headers)
    assert one.json() == created[1]

    deleted = await app.client.delete(f"/api/goldrush/patterns/{created[1]['id']}", headers=headers)
    assert deleted.status_code == 204
    assert (await submit(app, headers, {"type": "t1"}))["matched_patterns"] == []
    assert (await submit(app, headers, {"type": "t2"}))["matched_patterns"] == ["p2"]
    missing = await app.client.get(f"/api/goldrush/patterns/{created[1]['id']}", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "RESOURCE_NOT_FOUND",
        "message": f"Pattern with ID '{created[1]['id']}' not found",
        "details": {"resource_type": "pattern", "resource_id": created[1]["id"]},
    }
    assert (await app.client.get("/api/goldrush/patterns?per_page=0", headers=headers)).status_code == 422


async def test_bad_patterns_and_events_are_refused_without_losing_anything(app: RunningApp) -> None:
    headers = await admin(app)
    await create(app, headers, **HIGH_CPU)
    bad = await app.client.post(
        "/api/goldrush/patterns",
        headers=headers,
        json={"name": "broken", "pattern": "metric.value >> 90", "actions": []},
    )
    assert bad.status_code == 422
    error = bad.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["position"] == 14
    assert error["details"]["expected"] == "a value"
    redos = await app.client.post(
        "/api/goldrush/patterns",
        headers=headers,
        json={"name": "redos", "pattern": "data.s matches '(a+)+$'", "actions": []},
    )
    assert redos.status_code == 422
    duplicate = await app.client.post("/api/goldrush/patterns", headers=headers, json=HIGH_CPU)
    assert duplicate.status_code == 409
    for name, body in {
        "bad action": {"name": "x", "pattern": "type == 'a'", "actions": ["rm -rf /"]},
        "no pattern": {"name": "x", "actions": []},
    }.items():
        response = await app.client.post("/api/goldrush/patterns", headers=headers, json=body)
        assert response.status_code == 422, name
    for event in (
        {"type": "metric", "data": {}, "metadata": {"timestamp": "yesterday"}},
        {"type": "metric", "data": {}, "metadata": {"timestamp": "2024-01-15T10:30:00"}},  # no zone
        {"type": "", "data": {}},
        {"type": "metric", "data": {"blob": "x" * 70_000}},
        {"type": "metric", "data": [1, 2]},
    ):
        response = await app.client.post("/api/goldrush/events", headers=headers, json=event)
        assert response.status_code == 422, event
        assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    listed = (await app.client.get("/api/goldrush/patterns", headers=headers)).json()
    assert [item["name"] for item in listed] == ["high_cpu_alert"]
    async with app.core.db.transaction() as session:
        assert (await session.execute(select(func.count()).select_from(GoldrushEvent))).scalar_one() == 0


async def test_permissions(app: RunningApp) -> None:
    viewer = await user_headers(app, "viewer1", ["viewer"])
    user = await user_headers(app, "user1", ["user"])
    assert (await app.client.get("/api/goldrush/patterns")).status_code == 401
    assert (await app.client.post("/api/goldrush/events", json=SPEC_EVENT)).status_code == 401
    assert (await app.client.get("/api/goldrush/patterns", headers=viewer)).status_code == 200
    denied = await app.client.post("/api/goldrush/patterns", headers=user, json=HIGH_CPU)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "PERMISSION_DENIED"
    assert (await app.client.post("/api/goldrush/events", headers=viewer, json=SPEC_EVENT)).status_code == 403
    assert (await app.client.post("/api/goldrush/events", headers=user, json=SPEC_EVENT)).status_code == 200
    query = {"query": {"aggregation": "count"}}
    assert (await app.client.post("/api/goldrush/query", headers=viewer, json=query)).status_code == 200
    pattern = await create(app, await admin(app), **HIGH_CPU)
    gone = await app.client.delete(f"/api/goldrush/patterns/{pattern['id']}", headers=user)
    assert gone.status_code == 403


async def test_spec_query_groups_in_the_database(app: RunningApp) -> None:
    headers = await admin(app)
    logins = [
        ("2024-01-03T08:00:00Z", "US", "mobile", 120),
        ("2024-01-04T08:00:00Z", "US", "mobile", 80),
        ("2024-01-05T08:00:00Z", "US", "desktop", 30),
        ("2024-01-06T08:00:00Z", "DE", "mobile", 50),
        ("2024-02-02T08:00:00Z", "US", "mobile", 10),  # outside the range
    ]
    for timestamp, country, device, duration in logins:
        await submit(
            app,
            headers,
            {
                "type": "user.login",
                "data": {"duration_ms": duration, "geo": {"city": "x"}},
                "metadata": {"timestamp": timestamp, "country": country, "device_type": device},
            },
        )
    await submit(app, headers, {"type": "user.logout", "metadata": {"timestamp": "2024-01-05T00:00:00Z"}})
    spec_query = {
        "query": {
            "type": "aggregate",
            "aggregation": "count",
            "filters": {
                "event_type": "user.login",
                "time_range": {"start": "2024-01-01T00:00:00Z", "end": "2024-01-31T23:59:59Z"},
            },
            "group_by": ["country", "device_type"],
        }
    }
    response = await app.client.post("/api/goldrush/query", headers=headers, json=spec_query)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["type"] == "aggregate"
    assert body["results"] == [
        {"country": "US", "device_type": "mobile", "value": 2},
        {"country": "DE", "device_type": "mobile", "value": 1},
        {"country": "US", "device_type": "desktop", "value": 1},
    ]
    averaged = await app.client.post(
        "/api/goldrush/query",
        headers=headers,
        json={
            "query": {
                "aggregation": "avg",
                "field": "duration_ms",
                "filters": {
                    "event_type": ["user.login"],
                    "country": "US",
                    "time_range": {"end": "2024-01-31T00:00:00Z"},
                },
            }
        },
    )
    assert averaged.json()["results"] == [{"value": pytest.approx(230 / 3)}]
    everything = await app.client.post(
        "/api/goldrush/query", headers=headers, json={"query": {"aggregation": "count"}}
    )
    assert everything.json()["results"] == [{"value": 6}]
    for bad in (
        {"query": {"aggregation": "sum"}},  # sum of what?
        {"query": {"aggregation": "count", "group_by": ["country; DROP TABLE goldrush_events"]}},
        {"query": {"aggregation": "count", "filters": {"country": {"$ne": 1}}}},
        {"query": {"type": "histogram"}},
        {"query": {"aggregation": "count", "filters": {"time_range": {"start": "2024-01-01T00:00:00"}}}},
    ):
        refused = await app.client.post("/api/goldrush/query", headers=headers, json=bad)
        assert refused.status_code == 422, bad
    async with app.core.db.transaction() as session:
        assert (await session.execute(select(func.count()).select_from(GoldrushEvent))).scalar_one() == 6
