"""Identity operations: log in, refresh, log out, resolve credentials, manage users and API keys."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from pentad.core.db import Database, utcnow
from pentad.core.errors import BadRequest, Conflict, NotFound, Unauthorized, ValidationFailed
from pentad.core.identity.apikeys import generate_api_key, hash_api_key, looks_like_api_key
from pentad.core.identity.cache import PrincipalCache
from pentad.core.identity.models import ApiKey, RevokedToken, User
from pentad.core.identity.passwords import hash_password, needs_rehash, verify_password
from pentad.core.identity.permissions import ROLES, permissions_for, primary_role
from pentad.core.identity.principal import Principal
from pentad.core.identity.tokens import IssuedToken, TokenCodec

USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD_LENGTH = 8
# Writing last_used_at on every request would turn each read into a write; once a minute is enough.
LAST_USED_GRANULARITY = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class LoginResult:
    user: User
    access: IssuedToken
    refresh: IssuedToken


class IdentityService:
    def __init__(
        self, codec: TokenCodec, configured_api_keys: Mapping[str, str], cache_seconds: float = 0.0
    ) -> None:
        self.codec = codec
        self.cache = PrincipalCache(cache_seconds)
        # spec 001's [security.api_key_users]: kept as hash -> user id, the plaintext is dropped here
        self._configured_keys: dict[str, uuid.UUID] = {}
        for key, user_id in configured_api_keys.items():
            try:
                self._configured_keys[hash_api_key(key)] = uuid.UUID(user_id)
            except ValueError:
                raise ValidationFailed(
                    "security.api_key_users values must be user UUIDs",
                    fields=[{"field": "security.api_key_users", "error": "not a UUID"}],
                ) from None

    @property
    def configured_key_users(self) -> set[uuid.UUID]:
        return set(self._configured_keys.values())

    # --- logging in -------------------------------------------------------------------------------

    async def login(
        self, session: AsyncSession, *, password: str, email: str | None = None, username: str | None = None
    ) -> LoginResult:
        query = select(User)
        if email is not None:
            query = query.where(func.lower(User.email) == email.strip().lower())
        elif username is not None:
            query = query.where(User.username == username.strip())
        else:
            raise BadRequest("email or username is required")
        user = (await session.execute(query)).scalar_one_or_none()
        # verify_password runs even for unknown users so both failures take the same time
        valid = verify_password(user.password_hash if user else None, password)
        if user is None or not valid or not user.is_active:
            raise Unauthorized("Invalid credentials", code="invalid_credentials")
        if user.password_hash and needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        return LoginResult(user=user, access=self.issue(user, "access"), refresh=self.issue(user, "refresh"))

    def issue(self, user: User, token_type: str) -> IssuedToken:
        roles = list(user.roles)
        return self.codec.issue(
            "access" if token_type == "access" else "refresh",
            user_id=user.id,
            username=user.username,
            role=primary_role(roles),
            roles=roles,
            permissions=permissions_for(roles),
        )

    async def refresh(self, session: AsyncSession, refresh_token: str) -> tuple[User, IssuedToken]:
        claims = self.codec.decode(refresh_token, "refresh")
        await self._ensure_not_revoked(session, str(claims["jti"]))
        user = await session.get(User, uuid.UUID(str(claims["uid"])))
        if user is None or not user.is_active:
            raise Unauthorized("Invalid token", code="invalid_token")
        return user, self.issue(user, "access")

    async def logout(self, session: AsyncSession, principal: Principal, refresh_token: str | None) -> None:
        if principal.auth_method == "jwt" and principal.token_id and principal.token_expires_at:
            await self.revoke(session, principal.token_id, principal.token_expires_at)
        if refresh_token:
            claims = self.codec.decode(refresh_token, "refresh")
            if str(claims["uid"]) != str(principal.user_id):
                raise BadRequest("refresh_token belongs to another user")
            await self.revoke(session, str(claims["jti"]), int(claims["exp"]))

    async def revoke(self, session: AsyncSession, jti: str, expires_at: int) -> None:
        self.cache.evict_where(token_id=jti)
        if await session.get(RevokedToken, jti) is None:
            session.add(RevokedToken(jti=jti, expires_at=datetime.fromtimestamp(expires_at, UTC)))
            await session.flush()

    async def purge_expired_revocations(self, session: AsyncSession) -> int:
        result = await session.execute(delete(RevokedToken).where(RevokedToken.expires_at < utcnow()))
        return int(getattr(result, "rowcount", 0) or 0)

    async def _ensure_not_revoked(self, session: AsyncSession, jti: str) -> None:
        if await session.get(RevokedToken, jti) is not None:
            raise Unauthorized("Token has been revoked", code="token_revoked")

    # --- resolving credentials --------------------------------------------------------------------

    async def resolve(self, db: Database, credential: str) -> Principal:
        """`authenticate` behind the short-lived cache; opens its own transaction on a miss."""
        cached = self.cache.get(credential)
        if cached is not None:
            return cached
        async with db.transaction() as session:
            principal = await self.authenticate(session, credential)
        self.cache.put(credential, principal)
        return principal

    async def authenticate(self, session: AsyncSession, credential: str) -> Principal:
        """Resolve a bearer credential: an `sk-` API key or a JWT access token."""
        if looks_like_api_key(credential):
            return await self.authenticate_api_key(session, credential)
        claims = self.codec.decode(credential, "access")
        jti = str(claims["jti"])
        await self._ensure_not_revoked(session, jti)
        user = await session.get(User, uuid.UUID(str(claims["uid"])))
        if user is None or not user.is_active:
            raise Unauthorized("Invalid token", code="invalid_token")
        return _principal(user, "jwt", token_id=jti, expires_at=int(claims["exp"]))

    async def authenticate_api_key(self, session: AsyncSession, key: str) -> Principal:
        digest = hash_api_key(key)
        configured_user = self._configured_keys.get(digest)
        if configured_user is not None:
            user = await session.get(User, configured_user)
            if user is not None and user.is_active:
                return _principal(user, "api_key", token_id=f"config:{digest[:12]}")
            raise Unauthorized("Invalid or missing API key", code="invalid_api_key")
        row = (
            await session.execute(
                select(ApiKey, User)
                .join(User, User.id == ApiKey.user_id)
                .where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
            )
        ).one_or_none()
        if row is None or not row[1].is_active:
            raise Unauthorized("Invalid or missing API key", code="invalid_api_key")
        api_key, user = row
        now = utcnow()
        if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_GRANULARITY:
            api_key.last_used_at = now
        return _principal(user, "api_key", token_id=str(api_key.id))

    # --- users ------------------------------------------------------------------------------------

    async def create_user(
        self,
        session: AsyncSession,
        *,
        email: str,
        username: str,
        password: str | None,
        roles: list[str],
        name: str = "",
        user_id: uuid.UUID | None = None,
    ) -> User:
        _validate_user_fields(email=email, username=username, password=password, roles=roles)
        existing = await session.execute(
            select(User.id).where(or_(func.lower(User.email) == email.lower(), User.username == username))
        )
        if existing.first() is not None:
            raise Conflict("A user with this email or username already exists", code="user_exists")
        user = User(
            email=email,
            username=username,
            name=name,
            password_hash=hash_password(password) if password else None,
            roles=list(dict.fromkeys(roles)),
        )
        if user_id is not None:
            user.id = user_id
        session.add(user)
        try:
            await session.flush()
        except IntegrityError:
            raise Conflict("A user with this email or username already exists", code="user_exists") from None
        return user

    async def list_users(self, session: AsyncSession) -> list[User]:
        return list((await session.execute(select(User).order_by(User.created_at))).scalars())

    async def find_user(self, session: AsyncSession, ident: str) -> User:
        """Find by id, email or username (the CLI accepts any of them)."""
        try:
            query = select(User).where(User.id == uuid.UUID(ident))
        except ValueError:
            query = select(User).where(or_(func.lower(User.email) == ident.lower(), User.username == ident))
        user = (await session.execute(query)).scalar_one_or_none()
        if user is None:
            raise NotFound("user", ident)
        return user

    async def count_users(self, session: AsyncSession) -> int:
        return int((await session.execute(select(func.count()).select_from(User))).scalar_one())

    # --- API keys ---------------------------------------------------------------------------------

    async def create_api_key(self, session: AsyncSession, user: User, name: str) -> tuple[ApiKey, str]:
        plaintext = generate_api_key()
        api_key = ApiKey(user_id=user.id, name=name, prefix=plaintext[:10], key_hash=hash_api_key(plaintext))
        session.add(api_key)
        await session.flush()
        return api_key, plaintext

    async def revoke_api_key(self, session: AsyncSession, ident: str) -> ApiKey:
        """Revoke by key id or by its displayed prefix."""
        try:
            query = select(ApiKey).where(ApiKey.id == uuid.UUID(ident))
        except ValueError:
            query = select(ApiKey).where(ApiKey.prefix == ident)
        keys = list((await session.execute(query)).scalars())
        if not keys:
            raise NotFound("api_key", ident)
        if len(keys) > 1:
            raise Conflict("More than one key has this prefix; revoke by id")
        keys[0].revoked_at = keys[0].revoked_at or utcnow()
        self.cache.evict_where(token_id=str(keys[0].id))
        return keys[0]

    async def list_api_keys(self, session: AsyncSession) -> list[ApiKey]:
        return list((await session.execute(select(ApiKey).order_by(ApiKey.created_at))).scalars())


def _principal(user: User, method: str, *, token_id: str, expires_at: int | None = None) -> Principal:
    roles = tuple(user.roles)
    return Principal(
        user_id=user.id,
        username=user.username,
        email=user.email,
        name=user.name,
        roles=roles,
        permissions=frozenset(permissions_for(list(roles))),
        auth_method="jwt" if method == "jwt" else "api_key",
        token_id=token_id,
        token_expires_at=expires_at,
    )


def _validate_user_fields(*, email: str, username: str, password: str | None, roles: list[str]) -> None:
    problems: list[dict[str, str]] = []
    if "@" not in email or len(email) > 320 or email.strip() != email:
        problems.append({"field": "email", "error": "must be a valid email address"})
    if not USERNAME_PATTERN.match(username):
        problems.append({"field": "username", "error": "1-64 letters, digits, '.', '_' or '-'"})
    if password is not None and len(password) < MIN_PASSWORD_LENGTH:
        problems.append({"field": "password", "error": f"must be at least {MIN_PASSWORD_LENGTH} characters"})
    unknown = [role for role in roles if role not in ROLES]
    if unknown or not roles:
        problems.append({"field": "roles", "error": f"each role must be one of {', '.join(ROLES)}"})
    if problems:
        raise ValidationFailed("Request validation failed", fields=problems)
