"""The assistant's outside services in `/ready/all` (spec 001 lists weather, email, calendar, whatsapp):
each check makes the same call the commands make, timed. None of them decides readiness; only the
database and the inference engine do."""

from __future__ import annotations

import httpx

from pentad.core.context import CoreServices
from pentad.core.db import utcnow
from pentad.core.telemetry import ComponentHealth
from pentad.surfaces.assistant.router import providers


def register(core: CoreServices) -> None:
    async def weather() -> ComponentHealth:
        await providers(core).weather.current(core.settings.assistant.location)
        return ComponentHealth(healthy=True)

    async def calendar() -> ComponentHealth:
        await providers(core).calendar.events(utcnow().date(), 1)
        return ComponentHealth(healthy=True)

    async def email() -> ComponentHealth:
        await providers(core).mail.summary(1)
        return ComponentHealth(healthy=True)

    async def whatsapp() -> ComponentHealth:
        settings = core.settings.assistant
        if settings.whatsapp_access_token is None or not settings.whatsapp_phone_number_id:
            return ComponentHealth(healthy=False, detail={"configured": False})
        async with httpx.AsyncClient(timeout=2.5) as client:
            # any HTTP answer means the Cloud API is reachable; the token is checked when sending
            await client.get(settings.whatsapp_api_url)
        return ComponentHealth(healthy=True, detail={"configured": True})

    core.health.register("weather", weather)
    core.health.register("calendar", calendar)
    core.health.register("email", email)
    core.health.register("whatsapp", whatsapp)
