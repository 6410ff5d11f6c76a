"""spec 000 §3: login by email, refresh with the refresh token as bearer, permissions; plus logout."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

from pentad.core.errors import Unauthorized
from pentad.core.identity.dependencies import Core, CurrentPrincipal, DbSession
from pentad.core.identity.permissions import permissions_for, resource_access_for

router = APIRouter(prefix="/api/auth", tags=["VSM: Security"])
_refresh_bearer = HTTPBearer(auto_error=False, description="Refresh token")


class LoginRequest(BaseModel):
    # Not EmailStr: a login only looks the address up, and strict validation would lock out
    # deployments whose users live on internal domains such as `.local`.
    email: str = Field(min_length=3, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    password: str = Field(min_length=1, max_length=1024)


class LoginUser(BaseModel):
    id: str = Field(examples=["user_3f2a..."])
    email: str
    name: str
    roles: list[str]


class LoginResponse(BaseModel):
    access_token: str
    refresh_token: str
    expires_in: int
    user: LoginUser


class RefreshResponse(BaseModel):
    access_token: str
    expires_in: int


class PermissionsResponse(BaseModel):
    permissions: list[str]
    roles: list[str]
    resource_access: dict[str, list[str]]


class LogoutRequest(BaseModel):
    refresh_token: str | None = None


@router.post("/login", response_model=LoginResponse, summary="User login")
async def login(body: LoginRequest, core: Core, session: DbSession) -> LoginResponse:
    result = await core.identity.login(session, email=body.email, password=body.password)
    user = result.user
    return LoginResponse(
        access_token=result.access.token,
        refresh_token=result.refresh.token,
        expires_in=result.access.expires_in,
        user=LoginUser(id=f"user_{user.id.hex}", email=user.email, name=user.name, roles=list(user.roles)),
    )


@router.post("/refresh", response_model=RefreshResponse, summary="Refresh token")
async def refresh(
    core: Core,
    session: DbSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_refresh_bearer)],
) -> RefreshResponse:
    if credentials is None:
        raise Unauthorized(
            "Send the refresh token as 'Authorization: Bearer <token>'", code="authentication_required"
        )
    _user, access = await core.identity.refresh(session, credentials.credentials)
    return RefreshResponse(access_token=access.token, expires_in=access.expires_in)


@router.get("/permissions", response_model=PermissionsResponse, summary="Get permissions")
async def permissions(principal: CurrentPrincipal) -> PermissionsResponse:
    roles = list(principal.roles)
    return PermissionsResponse(
        permissions=permissions_for(roles), roles=roles, resource_access=resource_access_for(roles)
    )


@router.post("/logout", status_code=204, response_class=Response, summary="Revoke the presented tokens")
async def logout(
    principal: CurrentPrincipal, core: Core, session: DbSession, body: LogoutRequest | None = None
) -> Response:
    await core.identity.logout(session, principal, body.refresh_token if body else None)
    return Response(status_code=204)
