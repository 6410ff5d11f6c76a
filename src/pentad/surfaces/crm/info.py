"""spec 002: `GET /api/v1` version information."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from pentad.surfaces.crm import API_VERSION

router = APIRouter(tags=["CRM: Info"])


class ApiInfo(BaseModel):
    message: str
    version: str


@router.get("/api/v1", response_model=ApiInfo, summary="API version information")
async def api_info() -> ApiInfo:
    return ApiInfo(message="VectorOS API v1", version=API_VERSION)
