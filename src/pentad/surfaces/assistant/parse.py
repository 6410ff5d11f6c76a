"""`/v1/commands/parse`: free text to a structured command, with dateparser for dates and rules for intent.

Confidence is earned, not fixed: each rule starts from how specific its trigger is and adds what it could
pin down (a date, a title, a duration). Commands that change something (creating an event) require approval.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from dateparser.search import search_dates

from pentad.core.db import isoformat_z

CREATE = re.compile(r"^\s*(create|schedule|add|book|set up|plan)\b", re.IGNORECASE)
DURATION = re.compile(r"\bfor\s+(\d+)\s*(minutes?|mins?|hours?|hrs?|h)\b", re.IGNORECASE)
FILLER = {"a", "an", "the", "new", "for", "on", "at", "in", "with", "me", "my", "please"}
LOCATION = re.compile(r"\bweather\b(?:\s+(?:in|at|for)\s+(?P<place>[\w\s'-]+?))?\s*\??$", re.IGNORECASE)
DAYS = re.compile(r"\b(?:next|for)\s+(\d+)\s+days?\b", re.IGNORECASE)


def _event(text: str, now: datetime, zone: str) -> dict[str, Any] | None:
    match = CREATE.match(text)
    if not match:
        return None
    rest = text[match.end() :]
    duration_match = DURATION.search(rest)
    minutes = 60
    if duration_match:
        amount, unit = int(duration_match.group(1)), duration_match.group(2).lower()
        minutes = amount * (60 if unit.startswith("h") else 1)
        rest = rest[: duration_match.start()] + rest[duration_match.end() :]
    found = (
        search_dates(
            rest,
            languages=["en"],
            settings={
                "PREFER_DATES_FROM": "future",
                "RELATIVE_BASE": now.replace(tzinfo=None),
                "TIMEZONE": zone,
                "TO_TIMEZONE": "UTC",
                "RETURN_AS_TIMEZONE_AWARE": True,
            },
        )
        or []
    )
    start = None
    if found:
        phrase, start = found[0]
        rest = rest.replace(phrase, " ")
    words = [word for word in re.findall(r"[\w'-]+", rest) if word.lower() not in FILLER]
    title = " ".join(words).strip()
    confidence = 0.55 + (0.25 if start else 0.0) + (0.1 if title else 0.0) + (0.02 if duration_match else 0.0)
    command: dict[str, Any] = {"type": "CreateCalendarEvent", "title": title or "event"}
    if start is not None:
        start_utc = start.astimezone(UTC)
        command["start"] = isoformat_z(start_utc)
        command["end"] = isoformat_z(start_utc + timedelta(minutes=minutes))
    return {"command": command, "confidence": round(confidence, 2), "requires_approval": True}


def parse(text: str, now: datetime, zone: str) -> dict[str, Any]:
    """`now` is aware; `zone` is the user's IANA zone, in which bare times like "3pm" are meant."""
    cleaned = text.strip()
    event = _event(cleaned, now.astimezone(ZoneInfo(zone)), zone)
    if event is not None:
        return {"parsed": True, **event}
    lowered = cleaned.lower()
    weather = LOCATION.search(cleaned)
    if weather:
        place = (weather.group("place") or "").strip()
        command: dict[str, Any] = {"type": "Weather"}
        if place:
            command["location"] = place
        return {
            "parsed": True,
            "command": command,
            "confidence": 0.9 if place else 0.8,
            "requires_approval": False,
        }
    if "briefing" in lowered:
        return {
            "parsed": True,
            "command": {"type": "MorningBriefing"},
            "confidence": 0.9,
            "requires_approval": False,
        }
    if any(word in lowered for word in ("email", "e-mail", "mail", "inbox", "unread")):
        return {
            "parsed": True,
            "command": {"type": "EmailSummary"},
            "confidence": 0.8,
            "requires_approval": False,
        }
    if any(word in lowered for word in ("calendar", "agenda", "schedule", "what's on", "meetings")):
        days_match = DAYS.search(cleaned)
        days = int(days_match.group(1)) if days_match else (2 if "tomorrow" in lowered else 1)
        return {
            "parsed": True,
            "command": {"type": "Calendar", "days": min(days, 31)},
            "confidence": 0.85 if days_match else 0.75,
            "requires_approval": False,
        }
    if lowered in ("help", "?", "commands"):
        return {"parsed": True, "command": {"type": "Help"}, "confidence": 0.95, "requires_approval": False}
    return {"parsed": False, "command": None, "confidence": 0.0, "requires_approval": False}
