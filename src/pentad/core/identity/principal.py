"""Who is calling: the resolved identity that handlers and services receive."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: uuid.UUID
    username: str
    email: str
    name: str
    roles: tuple[str, ...]
    permissions: frozenset[str]
    auth_method: Literal["jwt", "api_key"]
    token_id: str | None = None  # JWT id (for logout) or API key id
    token_expires_at: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def can(self, permission: str) -> bool:
        return permission in self.permissions
