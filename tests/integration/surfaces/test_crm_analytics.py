"""CRM analytics against hand-computed figures on a fixed data set (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

from pentad.core.db import utcnow
from pentad.surfaces.crm.analytics import _add_months, linear_fit
from pentad.surfaces.crm.models import Deal, DealStageChange
from tests.helpers import RunningApp
from tests.integration.surfaces.crm_helpers import user_headers, workspace


async def seed(app: RunningApp, workspace_id: str) -> None:
    now = utcnow()
    this_month = now.date().replace(day=1)
    wid = uuid.UUID(workspace_id)

    def add(
        session: object,
        title: str,
        stage: str,
        value: int,
        probability: int,
        path: list[str],
        *,
        age_days: int = 40,
        cycle_days: int | None = None,
        closed_months_ago: int | None = None,
        close_date: object = None,
    ) -> None:
        created = now - timedelta(days=age_days)
        closed = None
        if closed_months_ago is not None:
            month = _add_months(this_month, -closed_months_ago)
            closed = now.replace(year=month.year, month=month.month, day=15)
            created = closed - timedelta(days=cycle_days or 0)
        deal = Deal(
            id=uuid.uuid4(),
            workspace_id=wid,
            title=title,
            stage=stage,
            value=Decimal(value),
            probability=probability,
            created_at=created,
            updated_at=now,
            closed_at=closed,
            expected_close_date=close_date,
        )
        session.add(deal)  # type: ignore[attr-defined]
        previous = None
        for step, stage_name in enumerate(path):
            session.add(
                DealStageChange(
                    deal_id=deal.id,
                    workspace_id=wid,
                    from_stage=previous,  # type: ignore[attr-defined]
                    to_stage=stage_name,
                    changed_at=created + timedelta(minutes=step),
                )
            )
            previous = stage_name

    async with app.core.db.transaction() as session:
        add(session, "D1", "lead", 1000, 10, ["lead"])
        add(session, "D2", "qualified", 2000, 25, ["lead", "qualified"])
        add(session, "D3", "proposal", 4000, 50, ["proposal"], close_date=_add_months(this_month, 1))
        add(session, "D4", "negotiation", 8000, 75, ["lead", "negotiation"], close_date=this_month)
        add(
            session,
            "D5",
            "won",
            10000,
            100,
            ["lead", "qualified", "proposal", "negotiation", "won"],
            cycle_days=30,
            closed_months_ago=2,
        )
        add(session, "D6", "won", 6000, 100, ["proposal", "won"], cycle_days=10, closed_months_ago=1)
        add(session, "D7", "lost", 3000, 0, ["lead", "qualified", "lost"], closed_months_ago=1)


async def test_pipeline_conversion_forecast(running: RunningApp) -> None:
    headers = await user_headers(running, "analyst")
    ws = await workspace(running, headers)
    await seed(running, ws["id"])
    base = f"/api/v1/workspaces/{ws['id']}/analytics"

    pipeline = (await running.client.get(f"{base}/pipeline", headers=headers)).json()
    stages = {row["stage"]: row for row in pipeline["stages"]}
    assert {s: r["count"] for s, r in stages.items()} == {
        "lead": 1,
        "qualified": 1,
        "proposal": 1,
        "negotiation": 1,
        "won": 2,
        "lost": 1,
    }
    assert stages["proposal"]["weighted_value"] == 2000.0
    assert pipeline["open_pipeline"] == {"count": 4, "total_value": 15000.0, "weighted_value": 8600.0}
    assert pipeline["won_value"] == 16000.0
    assert pipeline["win_rate"] == 0.6667
    assert pipeline["average_deal_size"] == 8000.0
    assert pipeline["average_cycle_days"] == 20.0

    conversion = (await running.client.get(f"{base}/conversion", headers=headers)).json()
    assert conversion["reached"] == {"lead": 7, "qualified": 6, "proposal": 4, "negotiation": 3, "won": 2}
    assert [step["conversion_rate"] for step in conversion["funnel"]] == [0.8571, 0.6667, 0.75, 0.6667]
    assert conversion["overall_conversion"] == 0.2857
    assert conversion["win_rate"] == 0.6667

    forecast = (await running.client.get(f"{base}/forecast?periods=3", headers=headers)).json()
    assert [p["weighted_pipeline"] for p in forecast["periods"]] == [6000.0, 2000.0, 0.0]
    assert [p["forecast"] for p in forecast["periods"]] == [6000.0, 2000.0, 0.0]
    assert forecast["unscheduled_weighted_pipeline"] == 600.0
    assert "too little won history" in forecast["method"]
    assert sum(month["won_revenue"] for month in forecast["history"]) == 16000.0


def test_linear_fit() -> None:
    assert linear_fit([1.0, 2.0, 3.0]) == (1.0, 1.0)
    slope, intercept = linear_fit([10.0, 10.0, 10.0, 10.0])
    assert (slope, intercept) == (0.0, 10.0)


async def test_insights_from_workspace_data_are_stored_and_patchable(running: RunningApp) -> None:
    headers = await user_headers(running, "analyst")
    ws = await workspace(running, headers)
    await seed(running, ws["id"])
    generated = await running.client.post(
        "/api/v1/insights", headers=headers, json={"workspace_id": ws["id"]}
    )
    assert generated.status_code == 200
    titles = [item["title"] for item in generated.json()["insights"]]
    # 2 of 7 deals won (29% < 35%), and one open deal holds 8000 of 15000 (53% > 30%)
    assert "Conversion Rate Below Industry Average" in titles
    assert "Pipeline Concentrated in One Deal" in titles
    listed = (
        await running.client.get(f"/api/v1/workspaces/{ws['id']}/insights?priority=high", headers=headers)
    ).json()
    assert listed["total"] >= 2
    insight_id = listed["insights"][0]["id"]
    patched = await running.client.patch(
        f"/api/v1/insights/{insight_id}", headers=headers, json={"status": "actioned"}
    )
    assert patched.json()["status"] == "actioned"
    bad = await running.client.patch(
        f"/api/v1/insights/{insight_id}", headers=headers, json={"status": "archived"}
    )
    assert bad.status_code == 422
    actioned = (
        await running.client.get(f"/api/v1/workspaces/{ws['id']}/insights?status=actioned", headers=headers)
    ).json()
    assert [item["id"] for item in actioned["insights"]] == [insight_id]


async def test_demo_data_set_is_consistent(running: RunningApp) -> None:
    from pentad.surfaces.crm.demo import seed_crm

    headers = await user_headers(running, "demo")
    async with running.core.db.transaction() as session:
        owner = await running.core.identity.find_user(session, "demo")
        workspace_id = str((await seed_crm(session, owner.id, deals=500)).id)
    base = f"/api/v1/workspaces/{workspace_id}"
    pipeline = (await running.client.get(f"{base}/analytics/pipeline", headers=headers)).json()
    assert pipeline["total_deals"] == 500
    assert sum(row["count"] for row in pipeline["stages"]) == 500
    funnel = (await running.client.get(f"{base}/analytics/conversion", headers=headers)).json()
    reached = list(funnel["reached"].values())
    assert reached[0] == 500
    assert reached == sorted(reached, reverse=True)  # a funnel only narrows
    won = next(row["count"] for row in pipeline["stages"] if row["stage"] == "won")
    assert funnel["reached"]["won"] == won
    forecast = (await running.client.get(f"{base}/analytics/forecast?periods=6", headers=headers)).json()
    assert "linear trend" in forecast["method"]  # a year of wins is enough history for the trend
    assert len(forecast["periods"]) == 6
    page = (await running.client.get(f"{base}/deals?limit=500", headers=headers)).json()
    assert page["total"] == 500
