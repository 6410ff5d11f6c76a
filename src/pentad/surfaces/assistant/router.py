"""spec 001 commands and system status: `POST /v1/commands`, `POST /v1/commands/parse`,
`GET /v1/system/status`. Authenticated by API key or JWT (`assistant.access`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from pentad import __version__
from pentad.core.context import CoreServices
from pentad.core.db import isoformat_z, utcnow
from pentad.core.identity.dependencies import Core, RequirePermission, get_principal
from pentad.core.identity.principal import Principal
from pentad.engines.llm.access import llm_service
from pentad.surfaces.assistant import commands, parse
from pentad.surfaces.assistant.calendar import IcsCalendar
from pentad.surfaces.assistant.mail import ImapMail, MaildirMail, MailProvider
from pentad.surfaces.assistant.weather import OpenMeteoWeather

router = APIRouter(prefix="/v1", tags=["Assistant: Commands & System"], dependencies=[Depends(get_principal)])
AssistantUser = Annotated[Principal, RequirePermission("assistant.access")]
PROVIDERS_KEY = "assistant_providers"


class CommandRequest(BaseModel):
    command: str = Field(min_length=1, max_length=100, examples=["briefing"])
    args: dict[str, Any] = Field(default_factory=dict)


class CommandResponse(BaseModel):
    command: str
    status: str
    result: dict[str, Any]
    executed_at: str


class ParseRequest(BaseModel):
    input: str = Field(min_length=1, max_length=1000, examples=["create meeting tomorrow at 3pm"])


class ParseResponse(BaseModel):
    parsed: bool
    command: dict[str, Any] | None
    confidence: float
    requires_approval: bool


class SystemStatus(BaseModel):
    version: str
    uptime_seconds: int
    environment: str
    resources: dict[str, float]
    statistics: dict[str, float]


def providers(core: CoreServices) -> commands.Providers:
    """The assistant's data sources for this app, built on first use from `[assistant]` settings."""
    existing = core.extras.get(PROVIDERS_KEY)
    if isinstance(existing, commands.Providers):
        return existing
    settings = core.settings.assistant
    mail: MailProvider
    if settings.imap_host and settings.imap_user and settings.imap_password:
        mail = ImapMail(
            settings.imap_host,
            settings.imap_port,
            settings.imap_ssl,
            settings.imap_user,
            settings.imap_password.get_secret_value(),
            settings.imap_mailbox,
            settings.important_senders,
        )
    else:
        mail = MaildirMail(settings.maildir, settings.important_senders)
    built = commands.Providers(
        weather=OpenMeteoWeather(settings.weather_url, settings.geocoding_url),
        calendar=IcsCalendar(settings.calendar_ics, settings.timezone),
        mail=mail,
        location=settings.location,
        timezone=settings.timezone,
    )
    core.extras[PROVIDERS_KEY] = built
    return built


async def close_providers(core: CoreServices) -> None:
    built = core.extras.pop(PROVIDERS_KEY, None)
    if isinstance(built, commands.Providers) and isinstance(built.weather, OpenMeteoWeather):
        await built.weather.close()


@router.post("/commands", response_model=CommandResponse, summary="Execute a command")
async def execute(body: CommandRequest, principal: AssistantUser, core: Core) -> CommandResponse:
    name, result = await commands.run(providers(core), body.command, body.args)
    return CommandResponse(command=name, status="completed", result=result, executed_at=isoformat_z(utcnow()))


@router.post("/commands/parse", response_model=ParseResponse, summary="Parse a command without executing it")
async def parse_command(body: ParseRequest, principal: AssistantUser, core: Core) -> ParseResponse:
    now, zone = datetime.now(UTC), core.settings.assistant.timezone
    result = parse.parse(body.input, now, zone)
    if not result["parsed"]:
        service = llm_service(core)
        await service.index(parse.INTENT_NAMESPACE, parse.intent_examples())  # embeds only once
        hits = await service.search(parse.INTENT_NAMESPACE, body.input, limit=8)
        result = parse.from_neighbours([(hit.key, hit.score) for hit in hits], body.input, now, zone)
    return ParseResponse(**result)


@router.get("/system/status", response_model=SystemStatus, summary="System status and resource usage")
async def system_status(principal: AssistantUser, core: Core) -> SystemStatus:
    telemetry = core.telemetry
    resources = telemetry.resources()
    size = await core.db.size_bytes()
    return SystemStatus(
        version=__version__,
        uptime_seconds=telemetry.uptime_seconds,
        environment=core.settings.server.environment,
        resources={
            "memory_used_mb": resources["memory_used_mb"],
            "cpu_percent": resources["cpu_percent"],
            "database_size_mb": round((size or 0) / (1024 * 1024), 2),
        },
        statistics={
            "requests_total": telemetry.requests_total,
            "inference_requests": telemetry.inference_total,
            "cache_hit_rate": core.identity.cache.hit_rate,
        },
    )
