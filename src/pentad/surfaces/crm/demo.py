"""A realistic demo data set for the CRM: `pentad demo crm`, and the data the CRM benchmark runs on.

Deals are spread over the last 12 months, walk the funnel with plausible drop-off, carry stage history
and close dates, so every analytics endpoint has something true to say. Rows go in with bulk inserts.
"""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from pentad.core.db import utcnow
from pentad.surfaces.crm.models import FUNNEL_ORDER, Deal, DealStageChange, Workspace, WorkspaceMember

COMPANIES = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Wonka",
    "Cyberdyne",
    "Tyrell",
    "Soylent",
    "Vandelay",
    "Pied Piper",
    "Aperture",
    "Massive Dynamic",
    "Oscorp",
)
PRODUCTS = ("renewal", "pilot", "expansion", "platform deal", "support plan", "migration", "seats")
ADVANCE = {"lead": 0.7, "qualified": 0.65, "proposal": 0.6, "negotiation": 0.55}  # chance to move on
PROBABILITY = {"lead": 10, "qualified": 25, "proposal": 50, "negotiation": 75, "won": 100, "lost": 0}
BATCH = 2000


def _walk(rng: random.Random) -> list[str]:
    """The stages one deal went through, ending open, won or lost."""
    path = ["lead"]
    for stage in FUNNEL_ORDER[:-1]:
        if rng.random() < ADVANCE[stage]:
            path.append(FUNNEL_ORDER[FUNNEL_ORDER.index(stage) + 1])
        else:
            if rng.random() < 0.6:
                path.append("lost")
            break
    return path


async def seed_crm(
    session: AsyncSession, owner_id: uuid.UUID, *, deals: int, name: str = "Demo Sales", seed: int = 7
) -> Workspace:
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    workspace = Workspace(name=name, created_by=owner_id)
    session.add(workspace)
    await session.flush()
    session.add(WorkspaceMember(workspace_id=workspace.id, user_id=owner_id, role="owner"))
    now = utcnow()
    deal_rows: list[dict[str, Any]] = []
    history_rows: list[dict[str, Any]] = []
    for number in range(deals):
        path = _walk(rng)
        stage = path[-1]
        created = now - timedelta(days=rng.uniform(0, 365))
        step_at = created
        for index, to_stage in enumerate(path):
            if index:
                step_at = min(now, step_at + timedelta(days=rng.uniform(1, 20)))
            history_rows.append(
                {
                    "id": uuid.uuid4(),
                    "deal_id": None,
                    "workspace_id": workspace.id,
                    "from_stage": path[index - 1] if index else None,
                    "to_stage": to_stage,
                    "changed_at": step_at,
                    "changed_by": owner_id,
                }
            )
        deal_id = uuid.uuid4()
        for row in history_rows[-len(path) :]:
            row["deal_id"] = deal_id
        closed = step_at if stage in ("won", "lost") else None
        expected = (now + timedelta(days=rng.uniform(-10, 120))).date() if closed is None else None
        deal_rows.append(
            {
                "id": deal_id,
                "workspace_id": workspace.id,
                "title": f"{rng.choice(COMPANIES)} {rng.choice(PRODUCTS)} #{number + 1}",
                "company": rng.choice(COMPANIES),
                "contact_email": None,
                "value": Decimal(round(rng.lognormvariate(9.3, 0.8), 2)),
                "currency": "USD",
                "stage": stage,
                "probability": PROBABILITY[stage],
                "owner_id": owner_id,
                "expected_close_date": expected,
                "notes": "",
                "source": "demo",
                "external_id": None,
                "created_at": created,
                "updated_at": step_at,
                "closed_at": closed,
            }
        )
        if len(deal_rows) >= BATCH:
            await _flush(session, deal_rows, history_rows)
    await _flush(session, deal_rows, history_rows)
    return workspace


async def _flush(
    session: AsyncSession, deal_rows: list[dict[str, Any]], history_rows: list[dict[str, Any]]
) -> None:
    if deal_rows:
        await session.execute(insert(Deal), deal_rows)
        await session.execute(insert(DealStageChange), history_rows)
    deal_rows.clear()
    history_rows.clear()
