"""FastAPI dependencies, named once: `Core`, `DbSession`, `CurrentPrincipal`, `RequirePermission(...)`.

`DbSession` is the request's one transaction: committed when the handler returns (before the response
is sent, `scope="function"`), rolled back when it raises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from pentad.core.context import CoreServices
from pentad.core.errors import Forbidden, Unauthorized
from pentad.core.identity.principal import Principal

_bearer = HTTPBearer(auto_error=False, description="JWT access token or `sk-` API key")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


async def get_core(request: Request) -> CoreServices:  # async: FastAPI runs sync dependencies in a thread
    core: CoreServices = request.app.state.core
    return core


Core = Annotated[CoreServices, Depends(get_core)]


async def get_session(core: Core) -> AsyncIterator[AsyncSession]:
    async with core.db.transaction() as session:
        yield session


DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]


async def get_principal(
    core: Core,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> Principal:
    credential = api_key.strip() if api_key else bearer.credentials.strip() if bearer else None
    if not credential:
        raise Unauthorized(
            "Authentication required: send a Bearer token or an X-API-Key header",
            code="authentication_required",
        )
    return await core.identity.resolve(core.db, credential)


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def RequirePermission(permission: str) -> Any:
    """`Annotated[Principal, RequirePermission("build:create")]`: authenticate, then check one permission."""

    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.can(permission):
            raise Forbidden(f"Missing permission '{permission}'", details={"required_permission": permission})
        return principal

    return Depends(check)


async def authenticate_token(core: CoreServices, credential: str | None) -> Principal:
    """For WebSockets, which carry the token in the query string: opens its own short transaction."""
    if not credential:
        raise Unauthorized("Authentication required", code="authentication_required")
    return await core.identity.resolve(core.db, credential)


PrincipalLoader = Callable[[CoreServices, str | None], Awaitable[Principal]]
