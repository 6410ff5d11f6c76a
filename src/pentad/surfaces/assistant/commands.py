"""spec 001 commands: `briefing`, `weather`, `calendar`, `emails`, `help`, each on its provider."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pentad.core.errors import ApiError, BadRequest, ValidationFailed
from pentad.surfaces.assistant.calendar import CalendarProvider
from pentad.surfaces.assistant.mail import MailProvider
from pentad.surfaces.assistant.weather import WeatherProvider

HELP = {
    "briefing": "Morning briefing: weather, today's calendar, unread mail",
    "weather": "Current weather; args: location (optional)",
    "calendar": "Upcoming events; args: days (default 1)",
    "emails": "Email summary; args: count (default 10)",
    "help": "List commands",
}


@dataclass
class Providers:
    weather: WeatherProvider
    calendar: CalendarProvider
    mail: MailProvider
    location: str
    timezone: str


def _int_arg(args: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = args.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValidationFailed(
            f"{name} must be an integer from {low} to {high}",
            fields=[{"field": f"args.{name}", "error": f"integer {low}-{high}"}],
        )
    return value


async def briefing(providers: Providers, args: dict[str, Any]) -> dict[str, Any]:
    today = datetime.now(ZoneInfo(providers.timezone)).date()
    try:
        weather: Any = (await providers.weather.current(providers.location)).summary()
    except ApiError as exc:  # a briefing still helps without the weather
        weather = f"unavailable ({exc.message})"
    events = await providers.calendar.events(today, 1)
    mail = await providers.mail.summary(5)
    return {
        "weather": weather,
        "calendar": [{"time": event.as_dict()["time"], "title": event.title} for event in events],
        "emails": {"unread": mail.unread, "important": mail.important},
    }


async def weather(providers: Providers, args: dict[str, Any]) -> dict[str, Any]:
    location = args.get("location") or providers.location
    if not isinstance(location, str) or len(location) > 200:
        raise ValidationFailed(
            "location must be a place name", fields=[{"field": "args.location", "error": "string"}]
        )
    return (await providers.weather.current(location)).as_dict()


async def calendar(providers: Providers, args: dict[str, Any]) -> dict[str, Any]:
    days = _int_arg(args, "days", 1, 1, 31)
    today = datetime.now(ZoneInfo(providers.timezone)).date()
    events = await providers.calendar.events(today, days)
    return {"days": days, "events": [event.as_dict() for event in events]}


async def emails(providers: Providers, args: dict[str, Any]) -> dict[str, Any]:
    return (await providers.mail.summary(_int_arg(args, "count", 10, 1, 100))).as_dict()


async def help_command(providers: Providers, args: dict[str, Any]) -> dict[str, Any]:
    return {"commands": [{"command": name, "description": text} for name, text in HELP.items()]}


COMMANDS: dict[str, tuple[str, Callable[[Providers, dict[str, Any]], Awaitable[dict[str, Any]]]]] = {
    "briefing": ("MorningBriefing", briefing),
    "weather": ("Weather", weather),
    "calendar": ("Calendar", calendar),
    "emails": ("EmailSummary", emails),
    "help": ("Help", help_command),
}


async def run(providers: Providers, command: str, args: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    entry = COMMANDS.get(command.strip().lower())
    if entry is None:
        raise BadRequest(f"Unknown command '{command}'", details={"available": sorted(COMMANDS)})
    name, handler = entry
    return name, await handler(providers, args)
