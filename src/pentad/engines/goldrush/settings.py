"""GoldRush settings: where window state lives and how large one event may be."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class GoldrushSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # auto: Redis when redis.url is set (every node counts into the same windows), else this process
    window_backend: Literal["auto", "memory", "redis"] = "auto"
    max_window_entries: int = Field(default=100_000, ge=10, le=10_000_000)
    max_event_bytes: int = Field(default=65_536, ge=1024, le=10_485_760)
