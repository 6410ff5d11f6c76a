"""`/v1/commands/parse`: free text to a structured command, with dateparser for dates and rules for intent;
what no rule recognises goes to the language model's embeddings (nearest example requests, see below).

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


# --- the language model, for what the rules cannot parse -------------------------------------------
# The request is embedded and compared with example requests of each command (nearest neighbours). On the
# small bundled base model this classifies far better than asking it to name a label: it cannot follow
# instructions, but its embeddings do separate the topics. Measured on it: matches score 0.85-0.98,
# unrelated requests under 0.85, so a label is taken only above that, with a margin over the next label.

INTENT_EXAMPLES: dict[str, tuple[str, ...]] = {
    "Weather": (
        "is it going to rain in Paris",
        "what's the temperature outside",
        "will it be sunny tomorrow",
        "forecast for this weekend",
    ),
    "EmailSummary": (
        "anything new in my inbox",
        "did I get any messages",
        "check my mail",
        "unread emails from my boss",
    ),
    "Calendar": (
        "what do I have going on this week",
        "am I free on thursday",
        "show my appointments",
        "what is on my agenda",
    ),
    "MorningBriefing": (
        "give me my daily overview",
        "summarize my morning",
        "start my day",
        "daily summary please",
    ),
    "Help": ("what can you do", "which commands are there", "how do I use this", "show me the options"),
    "CreateCalendarEvent": (
        "put lunch with Sam on friday at noon",
        "remind me to call mom at 5",
        "book a dentist appointment",
        "block two hours for focus time",
    ),
}
INTENT_NAMESPACE = "assistant:intents"
MIN_SIMILARITY = 0.85
MIN_MARGIN = 0.02
MAX_LLM_CONFIDENCE = 0.8  # a guess by similarity never reaches the confidence of a rule that matched


def intent_examples() -> dict[str, str]:
    return {
        f"{label}:{index}": text
        for label, texts in INTENT_EXAMPLES.items()
        for index, text in enumerate(texts)
    }


def from_neighbours(scored: list[tuple[str, float]], text: str, now: datetime, zone: str) -> dict[str, Any]:
    """The command for the nearest examples' label (`scored`: example key, cosine similarity)."""
    best_by_label: dict[str, float] = {}
    for key, score in scored:
        label = key.split(":", 1)[0]
        best_by_label[label] = max(score, best_by_label.get(label, -1.0))
    ranking = sorted(best_by_label.items(), key=lambda item: -item[1])
    unparsed = {"parsed": False, "command": None, "confidence": 0.0, "requires_approval": False}
    if not ranking:
        return unparsed
    label, best = ranking[0]
    margin = best - ranking[1][1] if len(ranking) > 1 else best
    if best < MIN_SIMILARITY or margin < MIN_MARGIN:
        return unparsed
    confidence = round(min(MAX_LLM_CONFIDENCE, (best - 0.8) * 2 + margin * 5), 2)
    if label == "CreateCalendarEvent":
        event = _event("create " + text, now.astimezone(ZoneInfo(zone)), zone)
        if event is not None:
            return {"parsed": True, **event, "confidence": confidence}
    return {
        "parsed": True,
        "command": {"type": label},
        "confidence": confidence,
        "requires_approval": label == "CreateCalendarEvent",
    }
