"""spec 004 Quick Start: `POST /auth/login` with username and password -> bearer token."""

from __future__ import annotations

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from pentad.core.identity.dependencies import Core, CurrentPrincipal, DbSession

router = APIRouter(prefix="/auth", tags=["Builds: Authentication"])


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str


class RefreshRequest(BaseModel):
    refresh_token: str


class AccessTokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class LogoutRequest(BaseModel):
    refresh_token: str | None = None


@router.post("/login", response_model=TokenResponse, summary="Get a JWT")
async def login(body: LoginRequest, core: Core, session: DbSession) -> TokenResponse:
    result = await core.identity.login(session, username=body.username, password=body.password)
    return TokenResponse(
        access_token=result.access.token,
        expires_in=result.access.expires_in,
        refresh_token=result.refresh.token,
    )


@router.post("/refresh", response_model=AccessTokenResponse, summary="Exchange a refresh token")
async def refresh(body: RefreshRequest, core: Core, session: DbSession) -> AccessTokenResponse:
    _user, access = await core.identity.refresh(session, body.refresh_token)
    return AccessTokenResponse(access_token=access.token, expires_in=access.expires_in)


@router.post("/logout", status_code=204, response_class=Response, summary="Revoke the presented tokens")
async def logout(
    principal: CurrentPrincipal, core: Core, session: DbSession, body: LogoutRequest | None = None
) -> Response:
    await core.identity.logout(session, principal, body.refresh_token if body else None)
    return Response(status_code=204)
