"""Pipeline, conversion funnel and revenue forecast, computed from a workspace's deals.

Aggregations that grow with the number of deals run in the database (GROUP BY, CASE); only small
results (won deals of the last year, one row per stage) come back to Python.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pentad.core.db import utcnow
from pentad.surfaces.crm.models import FUNNEL_ORDER, OPEN_STAGES, STAGES, Deal, DealStageChange

FUNNEL = FUNNEL_ORDER
TREND_MONTHS = 12
STALLED_AFTER = timedelta(days=30)


@dataclass
class StageTotals:
    stage: str
    count: int = 0
    total_value: float = 0.0
    weighted_value: float = 0.0


async def pipeline(session: AsyncSession, workspace_id: uuid.UUID) -> dict[str, Any]:
    weighted = func.sum(Deal.value * Deal.probability / 100)
    rows = await session.execute(
        select(Deal.stage, func.count(), func.coalesce(func.sum(Deal.value), 0), func.coalesce(weighted, 0))
        .where(Deal.workspace_id == workspace_id)
        .group_by(Deal.stage)
    )
    by_stage = {stage: StageTotals(stage) for stage in STAGES}
    for stage, count, total, weighted_total in rows.all():
        by_stage[stage] = StageTotals(
            stage, int(count), round(float(total), 2), round(float(weighted_total), 2)
        )
    open_rows = [by_stage[stage] for stage in OPEN_STAGES]
    won, lost = by_stage["won"], by_stage["lost"]
    closed = won.count + lost.count
    cycle_days = await _average_cycle_days(session, workspace_id)
    stalled = await _stalled_count(session, workspace_id)
    return {
        "workspace_id": str(workspace_id),
        "stages": [asdict(row) for row in by_stage.values()],
        "open_pipeline": {
            "count": sum(row.count for row in open_rows),
            "total_value": round(sum(row.total_value for row in open_rows), 2),
            "weighted_value": round(sum(row.weighted_value for row in open_rows), 2),
        },
        "won_value": won.total_value,
        "win_rate": round(won.count / closed, 4) if closed else None,
        "average_deal_size": round(won.total_value / won.count, 2) if won.count else None,
        "average_cycle_days": cycle_days,
        "stalled_deals": stalled,
        "total_deals": sum(row.count for row in by_stage.values()),
    }


async def _average_cycle_days(session: AsyncSession, workspace_id: uuid.UUID) -> float | None:
    rows = await session.execute(
        select(Deal.created_at, Deal.closed_at).where(
            Deal.workspace_id == workspace_id, Deal.stage == "won", Deal.closed_at.is_not(None)
        )
    )
    durations = [
        (closed - created).total_seconds() / 86400 for created, closed in rows.all() if closed and created
    ]
    return round(sum(durations) / len(durations), 1) if durations else None


async def _stalled_count(session: AsyncSession, workspace_id: uuid.UUID) -> int:
    cutoff = utcnow() - STALLED_AFTER
    query = select(func.count()).where(
        Deal.workspace_id == workspace_id, Deal.stage.in_(OPEN_STAGES), Deal.updated_at < cutoff
    )
    return int((await session.execute(query)).scalar_one())


async def conversion(session: AsyncSession, workspace_id: uuid.UUID) -> dict[str, Any]:
    """Funnel from stage history: a deal has reached every funnel stage up to the furthest it entered
    (skipping a stage counts as passing it); `lost` is not a funnel step."""
    index = case(
        {stage: position for position, stage in enumerate(FUNNEL)}, value=DealStageChange.to_stage, else_=-1
    )
    furthest = (
        select(DealStageChange.deal_id, func.max(index).label("idx"))
        .where(DealStageChange.workspace_id == workspace_id)
        .group_by(DealStageChange.deal_id)
        .subquery()
    )
    reached_columns = [
        func.sum(case((furthest.c.idx >= position, 1), else_=0)) for position in range(len(FUNNEL))
    ]
    row = (await session.execute(select(*reached_columns))).one()
    reached = [int(value or 0) for value in row]
    stages = []
    for position, stage in enumerate(FUNNEL[:-1]):
        entered, converted = reached[position], reached[position + 1]
        stages.append(
            {
                "from_stage": stage,
                "to_stage": FUNNEL[position + 1],
                "reached": entered,
                "converted": converted,
                "conversion_rate": round(converted / entered, 4) if entered else None,
            }
        )
    lost = (
        await session.execute(
            select(func.count()).where(Deal.workspace_id == workspace_id, Deal.stage == "lost")
        )
    ).scalar_one()
    won = reached[-1]
    return {
        "workspace_id": str(workspace_id),
        "funnel": stages,
        "reached": dict(zip(FUNNEL, reached, strict=True)),
        "overall_conversion": round(won / reached[0], 4) if reached[0] else None,
        "win_rate": round(won / (won + int(lost)), 4) if won + int(lost) else None,
    }


def _month(value: date | datetime) -> str:
    return f"{value.year:04d}-{value.month:02d}"


def _add_months(value: date, months: int) -> date:
    month = value.month - 1 + months
    return date(value.year + month // 12, month % 12 + 1, 1)


def linear_fit(points: list[float]) -> tuple[float, float]:
    """Ordinary least squares over x = 0..n-1: (slope, intercept)."""
    n = len(points)
    mean_x = (n - 1) / 2
    mean_y = sum(points) / n
    spread = sum((x - mean_x) ** 2 for x in range(n))
    slope = sum((x - mean_x) * (y - mean_y) for x, y in enumerate(points)) / spread if spread else 0.0
    return slope, mean_y - slope * mean_x


async def forecast(session: AsyncSession, workspace_id: uuid.UUID, periods: int = 3) -> dict[str, Any]:
    """Revenue forecast for the next `periods` months: the probability-weighted value of open deals
    expected to close in each month, and a linear trend fitted to the last 12 months of won revenue."""
    this_month = utcnow().date().replace(day=1)
    months = [_add_months(this_month, offset) for offset in range(periods)]
    labels = [_month(month) for month in months]

    weighted_by_month: dict[str, float] = defaultdict(float)
    unscheduled = 0.0
    open_rows = await session.execute(
        select(Deal.expected_close_date, Deal.value, Deal.probability).where(
            Deal.workspace_id == workspace_id, Deal.stage.in_(OPEN_STAGES)
        )
    )
    for close_date, value, probability in open_rows.all():
        weighted = float(value) * probability / 100
        if close_date is None:
            unscheduled += weighted
        elif close_date < this_month:
            weighted_by_month[labels[0]] += weighted  # overdue deals are expected now, if at all
        else:
            weighted_by_month[_month(close_date)] += weighted

    history_start = _add_months(this_month, -TREND_MONTHS)
    won_rows = await session.execute(
        select(Deal.closed_at, Deal.value).where(
            Deal.workspace_id == workspace_id,
            Deal.stage == "won",
            Deal.closed_at.is_not(None),
            Deal.closed_at >= datetime(history_start.year, history_start.month, 1, tzinfo=UTC),
        )
    )
    won_by_month: dict[str, float] = defaultdict(float)
    for closed_at, won_value in won_rows.all():
        if closed_at is not None:
            won_by_month[_month(closed_at)] += float(won_value)
    history_labels = [_month(_add_months(history_start, offset)) for offset in range(TREND_MONTHS)]
    history = [round(won_by_month.get(label, 0.0), 2) for label in history_labels]
    months_with_wins = sum(1 for value in history if value > 0)
    slope, intercept = linear_fit(history)
    use_trend = months_with_wins >= 3

    rows = []
    for offset, label in enumerate(labels):
        pipeline_part = round(weighted_by_month.get(label, 0.0), 2)
        trend_part = round(max(0.0, intercept + slope * (TREND_MONTHS + offset)), 2)
        estimate = round((pipeline_part + trend_part) / 2, 2) if use_trend else pipeline_part
        rows.append(
            {
                "period": label,
                "weighted_pipeline": pipeline_part,
                "trend": trend_part if use_trend else None,
                "forecast": estimate,
            }
        )
    method = (
        "mean of weighted pipeline (value x probability by expected close month) and a least-squares "
        f"linear trend over {TREND_MONTHS} months of won revenue"
        if use_trend
        else "weighted pipeline (value x probability by expected close month); too little won history "
        "(fewer than 3 months with wins) for a trend"
    )
    return {
        "workspace_id": str(workspace_id),
        "method": method,
        "periods": rows,
        "unscheduled_weighted_pipeline": round(unscheduled, 2),
        "history": [
            {"period": label, "won_revenue": value}
            for label, value in zip(history_labels, history, strict=True)
        ],
        "trend": {"slope_per_month": round(slope, 2), "intercept": round(intercept, 2)}
        if use_trend
        else None,
    }
