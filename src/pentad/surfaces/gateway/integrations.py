"""spec 003 integrations: `POST /api/v1/webhooks/{github|slack}` (signature-verified, no bearer auth) and
`GET /api/v1/health`."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from pentad.core import channels
from pentad.core.db import isoformat_z, utcnow
from pentad.core.errors import BadRequest, NotFound
from pentad.core.identity.dependencies import Core, DbSession
from pentad.core.jobs.models import Job
from pentad.core.webhooks.inbound import verify_hub_signature, verify_slack_signature
from pentad.engines.sandbox.access import sandbox_driver
from pentad.surfaces.gateway.models import GithubEvent, Vm

router = APIRouter(prefix="/api/v1", tags=["Gateway: Integrations"])


class Ack(BaseModel):
    status: str
    event: str | None = None
    id: str | None = None


class HealthView(BaseModel):
    status: str
    components: dict[str, str]
    timestamp: str
    sandbox: dict[str, Any]


def _secret(value: Any) -> str | None:
    return value.get_secret_value() if value is not None else None


@router.post("/webhooks/{integration}", response_model=None, summary="Webhook handler (github, slack)")
async def webhook(integration: str, request: Request, core: Core, session: DbSession) -> Any:
    body = await request.body()
    settings = core.settings.gateway
    if integration == "github":
        verify_hub_signature(
            _secret(settings.github_webhook_secret), body, request.headers.get("x-hub-signature-256")
        )
        return await _github(request, body, core, session)
    if integration == "slack":
        verify_slack_signature(
            _secret(settings.slack_signing_secret),
            body,
            request.headers.get("x-slack-request-timestamp"),
            request.headers.get("x-slack-signature"),
        )
        return await _slack(body, core, session)
    raise NotFound("integration", integration, "Supported integrations: github, slack")


async def _github(request: Request, body: bytes, core: Core, session: DbSession) -> Ack:
    try:
        payload = json.loads(body)
    except ValueError:
        raise BadRequest("GitHub payload is not JSON") from None
    if not isinstance(payload, dict):
        raise BadRequest("GitHub payload must be a JSON object")
    event = request.headers.get("x-github-event") or (
        "pull_request" if "pull_request" in payload else "unknown"
    )
    pull = payload.get("pull_request") if isinstance(payload.get("pull_request"), dict) else None
    summary: dict[str, Any] = {"action": payload.get("action")}
    if pull is not None:
        summary.update(
            number=pull.get("number"),
            title=pull.get("title"),
            url=pull.get("html_url"),
            repository=(payload.get("repository") or {}).get("full_name"),
        )
    record = GithubEvent(
        delivery_id=request.headers.get("x-github-delivery"),
        event=event,
        action=payload.get("action"),
        summary=summary,
    )
    session.add(record)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()  # GitHub redelivered an event we already recorded
        return Ack(status="duplicate", event=event)
    await core.bus.publish(
        channels.LOGS,
        "log",
        {
            "timestamp": isoformat_z(utcnow()),
            "level": "info",
            "message": f"github {event} {payload.get('action')}",
            "task_id": None,
            "vm_id": None,
            "fields": summary,
        },
    )
    await core.bus.publish(channels.AGENT_EVENTS, f"github.{event}", {"id": str(record.id), **summary})
    return Ack(status="received", event=event, id=str(record.id))


async def _slack(body: bytes, core: Core, session: DbSession) -> dict[str, Any]:
    form = {key: values[0] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}
    if not form:
        try:
            form = json.loads(body)
        except ValueError:
            raise BadRequest("Slack payload is neither a form nor JSON") from None
    if form.get("type") == "url_verification":
        return {"challenge": form.get("challenge")}
    command = form.get("command")
    if command != "/aetherium-status":
        return {"response_type": "ephemeral", "text": f"Unknown command {command!r}. Try /aetherium-status."}
    running = (
        await session.execute(select(func.count()).select_from(Vm).where(Vm.status == "running"))
    ).scalar_one()
    active = (
        await session.execute(
            select(func.count()).select_from(Job).where(Job.status.in_(("pending", "running")))
        )
    ).scalar_one()
    health = await core.health.check_all()
    unhealthy = [name for name, result in health.items() if not result.healthy]
    text = f"Aetherium: {running} VM(s) running, {active} task(s) queued or running. " + (
        "All components healthy." if not unhealthy else f"Unhealthy: {', '.join(unhealthy)}."
    )
    return {"response_type": "in_channel", "text": text}


@router.get("/health", response_model=HealthView, summary="Health check")
async def health(core: Core) -> HealthView:
    settings = core.settings.gateway
    results = await core.health.check_all(["event_bus", "database"])
    capabilities = sandbox_driver(core).capabilities()
    components = {
        "github": "healthy" if settings.github_webhook_secret else "not_configured",
        "slack": "healthy" if settings.slack_signing_secret else "not_configured",
        "loki": "healthy" if settings.loki_url else "not_configured",
        "event_bus": "healthy" if results["event_bus"].healthy else "unhealthy",
        "database": "healthy" if results["database"].healthy else "unhealthy",
        "sandbox": "healthy" if capabilities.available else "unhealthy",
    }
    degraded = any(value == "unhealthy" for value in components.values())
    return HealthView(
        status="degraded" if degraded else "ok",
        components=components,
        timestamp=isoformat_z(utcnow()),
        sandbox=capabilities.model_dump(mode="json"),
    )
