"""Weather from Open-Meteo (no key needed): geocode the place name, then read the current conditions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from pentad.core.errors import NotFound, UpstreamError

# WMO weather interpretation codes, as Open-Meteo documents them
WMO = {
    0: "clear sky",
    1: "mainly clear",
    2: "partly cloudy",
    3: "overcast",
    45: "fog",
    48: "rime fog",
    51: "light drizzle",
    53: "drizzle",
    55: "dense drizzle",
    61: "light rain",
    63: "rain",
    65: "heavy rain",
    66: "freezing rain",
    67: "heavy freezing rain",
    71: "light snow",
    73: "snow",
    75: "heavy snow",
    77: "snow grains",
    80: "rain showers",
    81: "rain showers",
    82: "violent rain showers",
    85: "snow showers",
    86: "heavy snow showers",
    95: "thunderstorm",
    96: "thunderstorm with hail",
    99: "thunderstorm with heavy hail",
}


@dataclass(frozen=True, slots=True)
class Weather:
    location: str
    temperature_c: float
    condition: str
    wind_kmh: float
    humidity_percent: float | None

    def summary(self) -> str:
        return f"{self.temperature_c:.0f}°C, {self.condition}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "location": self.location,
            "temperature_c": self.temperature_c,
            "condition": self.condition,
            "wind_kmh": self.wind_kmh,
            "humidity_percent": self.humidity_percent,
            "summary": self.summary(),
        }


class WeatherProvider(Protocol):
    async def current(self, location: str) -> Weather: ...


class OpenMeteoWeather:
    def __init__(
        self, forecast_url: str, geocoding_url: str, client: httpx.AsyncClient | None = None
    ) -> None:
        self._forecast = forecast_url.rstrip("/") + "/v1/forecast"
        self._geocoding = geocoding_url.rstrip("/") + "/v1/search"
        self._client = client or httpx.AsyncClient(timeout=10)

    async def _get(self, url: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            response = await self._client.get(url, params=params)
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise UpstreamError(f"Weather service unavailable: {type(exc).__name__}") from None
        if not isinstance(data, dict):
            raise UpstreamError("Weather service answered with something unexpected")
        return data

    async def current(self, location: str) -> Weather:
        places = (await self._get(self._geocoding, {"name": location, "count": 1, "format": "json"})).get(
            "results"
        )
        if not places:
            raise NotFound("location", location, f"No place called '{location}' was found")
        place = places[0]
        data = await self._get(
            self._forecast,
            {
                "latitude": place["latitude"],
                "longitude": place["longitude"],
                "current": "temperature_2m,relative_humidity_2m,weather_code,wind_speed_10m",
            },
        )
        current = data.get("current", {})
        try:
            return Weather(
                location=str(place.get("name", location)),
                temperature_c=float(current["temperature_2m"]),
                condition=WMO.get(int(current.get("weather_code", -1)), "unknown"),
                wind_kmh=float(current.get("wind_speed_10m", 0.0)),
                humidity_percent=float(current["relative_humidity_2m"])
                if "relative_humidity_2m" in current
                else None,
            )
        except (KeyError, TypeError, ValueError):
            raise UpstreamError("Weather service answered without current conditions") from None

    async def close(self) -> None:
        await self._client.aclose()
