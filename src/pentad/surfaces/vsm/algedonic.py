"""spec 000 §5.2 algedonic signals: `POST /api/vsm/algedonic/{pain|pleasure}`.

Propagation (docs/surfaces/vsm.md): pain goes to S3 (audit) from intensity 0.4 and to S5 (policy) from
0.7, below 0.4 S2 (coordination) absorbs it; pain from 0.8 also requests scaling. Pleasure goes to S4
(intelligence), and to S5 from 0.7 to reinforce the policy that produced it. Each target system gets a
`vsm.alert`; alerts of high or critical severity also go to `system.alert` webhooks.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from pentad.core import channels
from pentad.core.context import CoreServices
from pentad.core.db import after_commit, isoformat_z, utcnow
from pentad.core.identity.dependencies import Core, DbSession, RequirePermission
from pentad.core.identity.principal import Principal
from pentad.surfaces.vsm.models import AlgedonicSignal

router = APIRouter(prefix="/api/vsm/algedonic", tags=["VSM: Core"])
VsmWriter = Annotated[Principal, RequirePermission("vsm.write")]


class SignalRequest(BaseModel):
    source: str = Field(min_length=1, max_length=200, examples=["s1_operations"])
    intensity: float = Field(ge=0, le=1)
    message: str = Field(min_length=1, max_length=2000)
    metadata: dict[str, Any] = Field(default_factory=dict)


class SignalResponse(BaseModel):
    signal_id: str
    type: str
    intensity: float
    propagation: list[str]
    actions_taken: list[str]
    timestamp: str


def severity(intensity: float) -> str:
    return (
        "critical"
        if intensity >= 0.9
        else "high"
        if intensity >= 0.7
        else "medium"
        if intensity >= 0.4
        else "low"
    )


def propagate(kind: str, intensity: float) -> tuple[list[str], list[str]]:
    """(systems the signal reaches, actions taken) by the rules in the module docstring."""
    if kind == "pain":
        if intensity < 0.4:
            return ["s2"], ["Absorbed by S2 coordination"]
        targets, actions = ["s3"], ["Notified S3 for immediate audit"]
        if intensity >= 0.7:
            targets.append("s5")
            actions.append("Escalated to S5 for policy review")
        if intensity >= 0.8:
            actions.append("Triggered automatic scaling")
        return targets, actions
    targets, actions = ["s4"], ["Reported to S4 for intelligence"]
    if intensity >= 0.7:
        targets.append("s5")
        actions.append("Reinforced with S5 policy")
    return targets, actions


async def raise_signal(
    core: CoreServices,
    session: AsyncSession,
    kind: Literal["pain", "pleasure"],
    body: SignalRequest,
    created_by: uuid.UUID | None,
) -> SignalResponse:
    """Record a signal, alert its target systems, notify webhooks; used by the endpoint and by GoldRush's
    `scale_up` action."""
    targets, actions = propagate(kind, body.intensity)
    record = AlgedonicSignal(
        id="alg_" + secrets.token_hex(6),
        type=kind,
        source=body.source,
        intensity=body.intensity,
        message=body.message,
        signal_metadata=body.metadata,
        propagation=targets,
        actions_taken=actions,
        created_by=created_by,
    )
    session.add(record)
    await session.flush()
    timestamp = isoformat_z(utcnow())
    level = severity(body.intensity) if kind == "pain" else "low"
    alerts = [
        {
            "id": "alert_" + secrets.token_hex(6),
            "severity": level,
            "system": system,
            "message": body.message,
            "timestamp": timestamp,
            "data": {
                "signal_id": record.id,
                "type": kind,
                "source": body.source,
                "intensity": body.intensity,
                **body.metadata,
            },
        }
        for system in targets
    ]
    for alert in alerts:
        if alert["severity"] in ("high", "critical"):
            await core.webhooks.emit(session, "system.alert", alert, style="vsm")
    await core.webhooks.emit(
        session,
        "algedonic.signal",
        {
            "signal_id": record.id,
            "type": kind,
            "intensity": body.intensity,
            "propagation": targets,
            "actions_taken": actions,
        },
        style="vsm",
    )
    scale = "Triggered automatic scaling" in actions

    async def publish() -> None:
        for alert in alerts:
            await core.bus.publish(channels.VSM_ALERTS, "vsm.alert", alert)
        if scale:
            await core.bus.publish(
                channels.AGENT_EVENTS,
                "scale.requested",
                {"signal_id": record.id, "system": "s1", "reason": body.message},
            )

    after_commit(session, publish)
    return SignalResponse(
        signal_id=record.id,
        type=kind,
        intensity=body.intensity,
        propagation=targets,
        actions_taken=actions,
        timestamp=timestamp,
    )


@router.post("/{kind}", response_model=SignalResponse, summary="Send an algedonic signal (pain or pleasure)")
async def signal(
    kind: Literal["pain", "pleasure"],
    body: SignalRequest,
    principal: VsmWriter,
    core: Core,
    session: DbSession,
) -> SignalResponse:
    return await raise_signal(core, session, kind, body, principal.user_id)
