"""Calendar events from an iCalendar (ICS) file or URL, expanded for today and the next days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
from icalendar import Calendar

from pentad.core.errors import UpstreamError


@dataclass(frozen=True, slots=True)
class Event:
    start: datetime
    end: datetime | None
    title: str
    all_day: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "time": "all day" if self.all_day else self.start.strftime("%H:%M"),
            "title": self.title,
            "start": self.start.isoformat(),
            "end": self.end.isoformat() if self.end else None,
        }


class CalendarProvider(Protocol):
    async def events(self, first_day: date, days: int) -> list[Event]: ...


class IcsCalendar:
    def __init__(self, source: str | None, timezone: str) -> None:
        self._source = source
        self._zone = ZoneInfo(timezone)

    async def _content(self) -> bytes | None:
        if not self._source:
            return None
        if self._source.startswith(("http://", "https://")):
            try:
                async with httpx.AsyncClient(timeout=10) as client:
                    response = await client.get(self._source)
                    response.raise_for_status()
                    return response.content
            except httpx.HTTPError as exc:
                raise UpstreamError(f"Calendar unavailable: {type(exc).__name__}") from None
        path = Path(self._source)
        return path.read_bytes() if path.exists() else None

    def _as_datetime(self, value: date | datetime) -> datetime:
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=self._zone)
        return datetime.combine(value, time.min, self._zone)

    async def events(self, first_day: date, days: int) -> list[Event]:
        content = await self._content()
        if content is None:
            return []
        try:
            calendar = Calendar.from_ical(content)
        except ValueError:
            raise UpstreamError("Calendar is not valid iCalendar data") from None
        window_start = datetime.combine(first_day, time.min, self._zone)
        window_end = window_start + timedelta(days=days)
        found = []
        for component in calendar.walk("VEVENT"):
            raw_start = component.get("dtstart")
            if raw_start is None:
                continue
            start = self._as_datetime(raw_start.dt)
            raw_end = component.get("dtend")
            end = self._as_datetime(raw_end.dt) if raw_end is not None else None
            if window_start <= start < window_end or (end is not None and start < window_start < end):
                found.append(
                    Event(
                        start=start.astimezone(self._zone),
                        end=end,
                        title=str(component.get("summary", "")),
                        all_day=not isinstance(raw_start.dt, datetime),
                    )
                )
        return sorted(found, key=lambda event: event.start)
