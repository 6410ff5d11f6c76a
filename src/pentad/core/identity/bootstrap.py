"""First start: an admin account, the users named by configured API keys, and the JWT secret."""

from __future__ import annotations

import secrets
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from pentad.config import Settings
from pentad.core.identity.models import User
from pentad.core.identity.service import IdentityService


def resolve_jwt_secret(settings: Settings) -> str:
    """The configured secret, or one generated once and kept (0600) in the data dir for development."""
    configured = settings.security.jwt_secret
    if configured is not None:
        return configured.get_secret_value()
    path = settings.server.data_dir / "jwt.secret"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    _write_private(path, secret)
    return secret


def _write_private(path: Path, content: str) -> None:
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(content)


async def ensure_admin(session: AsyncSession, identity: IdentityService, settings: Settings) -> str | None:
    """Create the first admin when there are no users. Returns the generated password, if one was made."""
    if await identity.count_users(session) > 0:
        return None
    configured = settings.security.admin_password
    password = configured.get_secret_value() if configured else secrets.token_urlsafe(16)
    await identity.create_user(
        session,
        email=settings.security.admin_email,
        username=settings.security.admin_username,
        name="System Admin",
        password=password,
        roles=["admin", "operator"],
    )
    return None if configured else password


async def ensure_api_key_users(session: AsyncSession, identity: IdentityService) -> None:
    """spec 001 maps keys to user ids in config; make sure each id exists as a (password-less) user."""
    for user_id in sorted(identity.configured_key_users, key=str):
        if await session.get(User, user_id) is None:
            short = user_id.hex[:8]
            await identity.create_user(
                session,
                user_id=user_id,
                email=f"apikey-{short}@pentad.local",
                username=f"apikey-{short}",
                password=None,
                roles=["user"],
            )


def announce_generated_password(email: str, password: str) -> None:
    # Printed straight to the terminal once, never through the log pipeline.
    sys.stderr.write(
        f"\n  Pentad created the first admin: {email}\n  Generated password (shown once): {password}\n\n"
    )


__all__ = ["announce_generated_password", "ensure_admin", "ensure_api_key_users", "resolve_jwt_secret"]
