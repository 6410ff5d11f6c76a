"""JWT access and refresh tokens (PyJWT), verified against one fixed algorithm.

Claims follow spec 004 (`sub` is the username, `role`, `permissions`, `exp`, `iat`) plus `uid` (the user
id we resolve by), `typ` (access | refresh, so neither can stand in for the other) and `jti` (revocation).
"""

from __future__ import annotations

import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal

import jwt

from pentad.core.errors import Unauthorized

TokenType = Literal["access", "refresh"]


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    expires_in: int
    expires_at: int


class TokenCodec:
    def __init__(self, secret: str, algorithm: str, issuer: str, access_ttl: int, refresh_ttl: int) -> None:
        self._secret = secret
        self._algorithm = algorithm
        self._issuer = issuer
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl

    def issue(
        self,
        token_type: TokenType,
        *,
        user_id: uuid.UUID,
        username: str,
        role: str,
        roles: list[str],
        permissions: list[str],
        now: int | None = None,
    ) -> IssuedToken:
        issued_at = int(time.time()) if now is None else now
        ttl = self.access_ttl if token_type == "access" else self.refresh_ttl
        jti = secrets.token_hex(16)
        claims: dict[str, Any] = {
            "sub": username,
            "uid": str(user_id),
            "typ": token_type,
            "jti": jti,
            "iss": self._issuer,
            "iat": issued_at,
            "exp": issued_at + ttl,
        }
        if token_type == "access":
            claims.update(role=role, roles=roles, permissions=permissions)
        token = jwt.encode(claims, self._secret, algorithm=self._algorithm)
        return IssuedToken(token=token, jti=jti, expires_in=ttl, expires_at=issued_at + ttl)

    def decode(self, token: str, expected_type: TokenType) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[self._algorithm],  # fixed: never trust the token's own `alg` header
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "uid", "typ", "jti"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("Token has expired", code="token_expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("Invalid token", code="invalid_token") from None
        if claims.get("typ") != expected_type:
            raise Unauthorized(f"Expected an {expected_type} token", code="invalid_token")
        try:
            uuid.UUID(str(claims["uid"]))
        except ValueError:
            raise Unauthorized("Invalid token", code="invalid_token") from None
        return claims

    def peek_subject(self, token: str) -> str | None:
        """The verified `uid` of an access token, or None; used by the edge to key rate limits cheaply."""
        try:
            claims = jwt.decode(token, self._secret, algorithms=[self._algorithm], issuer=self._issuer)
        except jwt.PyJWTError:
            return None
        uid = claims.get("uid")
        return str(uid) if isinstance(uid, str) else None
