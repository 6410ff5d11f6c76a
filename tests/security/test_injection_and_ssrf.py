"""OWASP API8 (injection) and API7 (server-side request forgery), on SQLite and PostgreSQL.

Hostile text goes through every filter that reaches SQL or a query language: the log search (FTS5 /
PostgreSQL full text), the CRM deal filters, GoldRush's pattern language and query filters, the user
directory. Each answers with data or a documented 4xx, never a 500, and the stored rows are all still
there afterwards. Outbound URLs supplied by users (spec 000 webhooks, CRM integrations and webhooks)
that point at loopback, link-local or private addresses are refused unless the host is allow-listed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from pentad.core.webhooks.models import WebhookDelivery, WebhookSubscription
from tests.helpers import RunningApp, SettingsFactory, login_admin
from tests.receivers import Receiver

HOSTILE = [
    "' OR '1'='1",
    "'; DROP TABLE deals; --",
    '" OR 1=1 --',
    "admin'--",
    "1; SELECT pg_sleep(5)",
    "%' AND 1=0 UNION SELECT password_hash FROM users --",
    'NEAR("a" "b")',
    "* OR *",
    '"unbalanced',
    "a AND (b OR",
    "\\x00\\u0000",
    "$where: function() { return true }",
    "{{7*7}}",
    "../../etc/passwd",
]
PRIVATE_URLS = [
    "http://127.0.0.1:6379/",
    "http://localhost:5432/",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://192.168.1.1/admin",
    "http://[::1]:8000/",
    "http://0.0.0.0/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:6379/_FLUSHALL",
    "http://user:pass@example.com/",
]


@pytest.fixture
async def app(backend: str, make_settings: SettingsFactory, start_app: Any) -> RunningApp:
    return await start_app(make_settings(backend, rate_limits={"enabled": False}))  # type: ignore[no-any-return]


async def _admin(app: RunningApp) -> dict[str, str]:
    return {"Authorization": f"Bearer {(await login_admin(app.client))['access_token']}"}


def _no_server_error(response: Any, what: str) -> None:
    assert response.status_code < 500, (what, response.status_code, response.text)
    assert "Traceback" not in response.text
    assert "sqlalchemy" not in response.text.lower()


async def test_hostile_text_through_every_filter(app: RunningApp) -> None:
    headers = await _admin(app)
    client = app.client
    workspace = (await client.post("/api/v1/workspaces", headers=headers, json={"name": "W"})).json()
    wid = workspace["id"]
    for title in ("Alpha", "Beta"):
        created = await client.post(f"/api/v1/workspaces/{wid}/deals", headers=headers, json={"title": title})
        assert created.status_code == 201
    pattern = await client.post(
        "/api/goldrush/patterns", headers=headers, json={"name": "p", "pattern": "type == 'x'", "actions": []}
    )
    assert pattern.status_code == 201
    await client.post("/api/goldrush/events", headers=headers, json={"type": "x", "data": {"country": "US"}})

    for text in HOSTILE:
        logs = await client.post("/api/v1/logs/query", headers=headers, json={"search_text": text})
        _no_server_error(logs, f"log search {text!r}")
        assert logs.status_code in (200, 400, 422)
        for params in ({"stage": text}, {"assignedTo": text}):
            deals = await client.get(f"/api/v1/workspaces/{wid}/deals", headers=headers, params=params)
            _no_server_error(deals, f"deal filter {params}")
            assert deals.status_code in (200, 400, 404, 422)
            if deals.status_code == 200:
                assert deals.json()["total"] == 0  # nothing matches a hostile filter; nothing leaks
        query = await client.post(
            "/api/goldrush/query",
            headers=headers,
            json={"query": {"aggregation": "count", "filters": {"country": text}, "group_by": ["country"]}},
        )
        _no_server_error(query, f"goldrush filter {text!r}")
        assert query.status_code == 200
        assert query.json()["results"] == []
        grouped = await client.post(
            "/api/goldrush/query",
            headers=headers,
            json={"query": {"aggregation": "count", "group_by": [text]}},
        )
        assert grouped.status_code == 422, text
        created = await client.post(
            "/api/goldrush/patterns",
            headers=headers,
            json={"name": f"h{HOSTILE.index(text)}", "pattern": text, "actions": []},
        )
        _no_server_error(created, f"pattern {text!r}")
        assert created.status_code == 422, text  # none of these is a valid pattern
        user = await client.get(f"/api/v1/users/{text}", headers=headers)
        _no_server_error(user, f"user id {text!r}")
        assert user.status_code in (400, 404, 422)

    deals = (await client.get(f"/api/v1/workspaces/{wid}/deals", headers=headers)).json()
    assert sorted(deal["title"] for deal in deals["deals"]) == ["Alpha", "Beta"]
    counted = await client.post(
        "/api/goldrush/query", headers=headers, json={"query": {"aggregation": "count"}}
    )
    assert counted.json()["results"] == [{"value": 1}]
    patterns = (await client.get("/api/goldrush/patterns", headers=headers)).json()
    assert [item["name"] for item in patterns] == ["p"]


async def test_private_and_odd_urls_are_refused(app: RunningApp) -> None:
    headers = await _admin(app)
    client = app.client
    wid = (await client.post("/api/v1/workspaces", headers=headers, json={"name": "W"})).json()["id"]
    for url in PRIVATE_URLS:
        attempts = {
            "spec 000 webhook": await client.post(
                "/api/webhooks", headers=headers, json={"url": url, "events": ["*"], "secret": "s" * 16}
            ),
            "CRM webhook": await client.post(
                f"/api/v1/workspaces/{wid}/webhooks",
                headers=headers,
                json={"url": url, "events": ["*"], "secret": "s" * 16},
            ),
            "CRM REST integration": await client.post(
                f"/api/v1/workspaces/{wid}/integrations",
                headers=headers,
                json={"type": "rest", "name": "r", "config": {"base_url": url}},
            ),
            "CRM file integration": await client.post(
                f"/api/v1/workspaces/{wid}/integrations",
                headers=headers,
                json={"type": "csv", "name": "f", "config": {"url": url}},
            ),
        }
        for where, response in attempts.items():
            assert response.status_code in (400, 422), (where, url, response.status_code, response.text)
    assert (await client.get("/api/webhooks", headers=headers)).json() == []
    listed = (await client.get(f"/api/v1/workspaces/{wid}/integrations", headers=headers)).json()
    assert listed["total"] == 0


async def test_allow_listed_internal_host_is_accepted(
    backend: str, make_settings: SettingsFactory, start_app: Any
) -> None:
    app = await start_app(make_settings(backend, webhooks={"allowed_hosts": ["127.0.0.1"]}))
    headers = await _admin(app)
    accepted = await app.client.post(
        "/api/webhooks",
        headers=headers,
        json={"url": "http://127.0.0.1:9/hook", "events": ["*"], "secret": "s" * 16},
    )
    assert accepted.status_code == 201, accepted.text
    still_refused = await app.client.post(
        "/api/webhooks",
        headers=headers,
        json={"url": "http://169.254.169.254/", "events": ["*"], "secret": "s" * 16},
    )
    assert still_refused.status_code == 422


async def test_delivery_rechecks_where_a_saved_url_now_points(
    backend: str, make_settings: SettingsFactory, start_app: Any, receiver: Receiver
) -> None:
    """A subscription saved when its host was acceptable (here: written straight to the table, as if
    DNS had moved since) is refused at delivery time, and the receiver never hears from Pentad."""
    fast = {"poll_seconds": 0.05, "backoff_seconds": 0.05, "max_attempts": 2}
    app: RunningApp = await start_app(make_settings(backend, webhooks=fast))
    async with app.core.db.transaction() as session:
        owner = await app.core.identity.find_user(session, "admin")
        session.add(
            WebhookSubscription(
                id="wh_moved", owner_id=owner.id, style="vsm", url=receiver.url, events=["*"], secret="s" * 16
            )
        )
    async with app.core.db.transaction() as session:
        await app.core.webhooks.emit(session, "system.alert", {"id": "a1"}, style="vsm")
    deadline = asyncio.get_running_loop().time() + 10
    while True:
        async with app.core.db.transaction() as session:
            delivery = (await session.execute(select(WebhookDelivery))).scalar_one()
        if delivery.status == "failed":
            break
        assert asyncio.get_running_loop().time() < deadline, delivery.status
        await asyncio.sleep(0.05)
    assert delivery.last_error is not None
    assert delivery.last_error.startswith("refused: host '127.0.0.1' resolves to a non-public address")
    assert receiver.received == []
