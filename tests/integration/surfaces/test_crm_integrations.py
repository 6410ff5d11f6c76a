"""CRM integrations: CSV upload, a generic REST source served over real HTTP, re-sync without
duplicates, and a sync failing midway that keeps what it imported and fires `integration.failed`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.helpers import RunningApp, SettingsFactory, free_port
from tests.integration.surfaces.crm_helpers import user_headers, workspace
from tests.receivers import LocalServer, Receiver

CSV = b"""id,title,value,stage,company
A-1,Acme renewal,12000,proposal,Acme
A-2,Globex pilot,3000,lead,Globex
A-3,Initech expansion,45000,negotiation,Initech
A-4,,100,lead,Nameless
"""


class OpportunityApi:
    """A third-party CRM's REST API: bearer-protected, paged, 2 records a page; can break on a page."""

    def __init__(self) -> None:
        self.port = free_port()
        self.fail_on_page: int | None = None
        self.records = [
            {"opp_id": f"R-{n}", "name": f"Opportunity {n}", "amount": str(1000 * n), "status": "Qualified"}
            for n in range(1, 6)
        ]

    async def opportunities(self, request: Request) -> Response:
        if request.headers.get("authorization") != "Bearer remote-token":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        page = int(request.query_params.get("page", "1"))
        if page == self.fail_on_page:
            return JSONResponse({"error": "boom"}, status_code=500)
        chunk = self.records[(page - 1) * 2 : page * 2]
        return JSONResponse({"data": {"items": chunk}})

    async def start(self) -> None:
        self.server = LocalServer(
            Starlette(routes=[Route("/api/opportunities", self.opportunities)]), self.port
        )
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()


@pytest.fixture
async def remote() -> AsyncIterator[OpportunityApi]:
    api = OpportunityApi()
    await api.start()
    yield api
    await api.stop()


@pytest.fixture
async def app(backend: str, make_settings: SettingsFactory, start_app: Any) -> RunningApp:
    settings = make_settings(
        backend, webhooks={"allowed_hosts": ["127.0.0.1"], "poll_seconds": 0.05}, jobs={"poll_seconds": 0.1}
    )
    return await start_app(settings)  # type: ignore[no-any-return]


async def wait_task(app: RunningApp, headers: dict[str, str], task_id: str) -> dict[str, Any]:
    for _ in range(300):
        task = (await app.client.get(f"/api/v1/tasks/{task_id}", headers=headers)).json()
        if task["status"] in ("completed", "failed", "cancelled"):
            return dict(task)
        await asyncio.sleep(0.05)
    raise AssertionError("sync did not finish")


async def test_csv_upload_imports_and_resync_does_not_duplicate(app: RunningApp) -> None:
    headers = await user_headers(app, "alice")
    ws = await workspace(app, headers)
    integration = (
        await app.client.post(
            f"/api/v1/workspaces/{ws['id']}/integrations",
            headers=headers,
            json={"type": "csv", "name": "Spreadsheet", "config": {}},
        )
    ).json()
    for _ in range(2):
        accepted = await app.client.post(
            f"/api/v1/integrations/{integration['id']}/sync",
            headers=headers,
            files={"file": ("deals.csv", CSV, "text/csv")},
        )
        assert accepted.status_code == 202, accepted.text
        task = await wait_task(app, headers, accepted.json()["task_id"])
        assert task["status"] == "completed", task
        assert task["result"]["records_synced"] == 3
        assert task["result"]["skipped"] == 1
        assert "no title" in task["result"]["errors"][0]["error"]
    deals = (await app.client.get(f"/api/v1/workspaces/{ws['id']}/deals", headers=headers)).json()
    assert deals["total"] == 3
    by_title = {d["title"]: d for d in deals["deals"]}
    assert by_title["Initech expansion"]["value"] == 45000.0
    assert by_title["Initech expansion"]["stage"] == "negotiation"
    assert by_title["Acme renewal"]["source"] == f"integration:{integration['id']}"
    listed = (await app.client.get(f"/api/v1/workspaces/{ws['id']}/integrations", headers=headers)).json()
    assert listed["integrations"][0]["status"] == "connected"
    assert listed["integrations"][0]["records_synced"] == 3


async def test_rest_connector_pages_through_a_real_api(app: RunningApp, remote: OpportunityApi) -> None:
    headers = await user_headers(app, "alice")
    ws = await workspace(app, headers)
    config = {
        "base_url": f"http://127.0.0.1:{remote.port}",
        "path": "/api/opportunities",
        "auth_header": "Authorization",
        "auth_value": "Bearer remote-token",
        "records_path": "data.items",
        "page_param": "page",
        "field_mapping": {"external_id": "opp_id", "title": "name", "value": "amount", "stage": "status"},
    }
    created = await app.client.post(
        f"/api/v1/workspaces/{ws['id']}/integrations",
        headers=headers,
        json={"type": "rest", "name": "Remote CRM", "config": config},
    )
    assert created.status_code == 201
    integration = created.json()
    assert integration["config"]["auth_value"] == "***"
    accepted = await app.client.post(f"/api/v1/integrations/{integration['id']}/sync", headers=headers)
    task = await wait_task(app, headers, accepted.json()["task_id"])
    assert task["status"] == "completed", task
    assert task["result"]["records_synced"] == 5
    deals = (
        await app.client.get(f"/api/v1/workspaces/{ws['id']}/deals?stage=qualified", headers=headers)
    ).json()
    assert deals["total"] == 5
    assert "remote-token" not in json.dumps(deals)


async def test_sync_failing_midway_keeps_imported_records(
    app: RunningApp, remote: OpportunityApi, receiver: Receiver
) -> None:
    headers = await user_headers(app, "alice")
    ws = await workspace(app, headers)
    await app.client.post(
        f"/api/v1/workspaces/{ws['id']}/webhooks",
        headers=headers,
        json={"url": receiver.url, "events": ["integration.failed"], "secret": "crm-secret-1"},
    )
    remote.fail_on_page = 2
    config = {
        "base_url": f"http://127.0.0.1:{remote.port}/api/opportunities",
        "auth_header": "Authorization",
        "auth_value": "Bearer remote-token",
        "records_path": "data.items",
        "page_param": "page",
        "field_mapping": {"external_id": "opp_id", "title": "name", "value": "amount"},
    }
    integration = (
        await app.client.post(
            f"/api/v1/workspaces/{ws['id']}/integrations",
            headers=headers,
            json={"type": "rest", "name": "Flaky", "config": config},
        )
    ).json()
    accepted = await app.client.post(f"/api/v1/integrations/{integration['id']}/sync", headers=headers)
    task = await wait_task(app, headers, accepted.json()["task_id"])
    assert task["status"] == "failed"
    assert "500" in task["error"]
    deals = (await app.client.get(f"/api/v1/workspaces/{ws['id']}/deals", headers=headers)).json()
    assert deals["total"] == 2  # page 1 stays imported
    state = (await app.client.get(f"/api/v1/workspaces/{ws['id']}/integrations", headers=headers)).json()
    assert state["integrations"][0]["status"] == "error"
    [delivery] = await receiver.wait_for(1)
    body = json.loads(delivery.body)
    assert body["event"] == "integration.failed"
    assert body["data"]["records_synced"] == 2
    # the source recovers: the next sync completes without duplicating page 1
    remote.fail_on_page = None
    again = await app.client.post(f"/api/v1/integrations/{integration['id']}/sync", headers=headers)
    assert (await wait_task(app, headers, again.json()["task_id"]))["status"] == "completed"
    assert (await app.client.get(f"/api/v1/workspaces/{ws['id']}/deals", headers=headers)).json()[
        "total"
    ] == 5


async def test_integration_urls_to_private_hosts_are_refused(app: RunningApp) -> None:
    headers = await user_headers(app, "alice")
    ws = await workspace(app, headers)
    refused = await app.client.post(
        f"/api/v1/workspaces/{ws['id']}/integrations",
        headers=headers,
        json={
            "type": "json",
            "name": "metadata",
            "config": {"url": "http://169.254.169.254/latest/meta-data"},
        },
    )
    # refused when connected; the sync job checks again before every request (DNS can change)
    assert refused.status_code == 422
    assert "non-public address" in refused.json()["details"]["fields"][0]["error"]
