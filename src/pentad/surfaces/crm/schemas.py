"""spec 002 shapes. Bodies are snake_case like the document's JSON; list filters keep its camelCase
query names (`assignedTo`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

Stage = Literal["lead", "qualified", "proposal", "negotiation", "won", "lost"]
MemberRole = Literal["owner", "admin", "member"]
InsightStatus = Literal["new", "viewed", "actioned", "dismissed"]
Priority = Literal["low", "medium", "high", "critical"]
Role = Literal["admin", "operator", "user", "viewer"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class UserCreate(Strict):
    email: EmailStr
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    name: str = Field(default="", max_length=200)
    password: str = Field(min_length=8, max_length=1024)
    roles: list[Role] = Field(default_factory=lambda: list[Role](["user"]))


class UserUpdate(Strict):
    name: str | None = Field(default=None, max_length=200)
    email: EmailStr | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1024)
    roles: list[Role] | None = None  # admins only
    is_active: bool | None = None  # admins only


class UserView(BaseModel):
    id: str
    email: str
    username: str
    name: str
    roles: list[str]
    is_active: bool
    created_at: str


class WorkspaceCreate(Strict):
    name: str = Field(min_length=1, max_length=200)
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")


class WorkspaceView(BaseModel):
    id: str
    name: str
    currency: str
    role: str  # the caller's role in it
    member_count: int
    created_at: str


class MemberAdd(Strict):
    user_id: str | None = None
    email: EmailStr | None = None
    role: MemberRole = "member"


class MemberView(BaseModel):
    user_id: str
    email: str
    name: str
    role: str
    joined_at: str


class MembersView(BaseModel):
    members: list[MemberView]
    total: int


class DealCreate(Strict):
    title: str = Field(min_length=1, max_length=300)
    value: Decimal = Field(default=Decimal(0), ge=0, max_digits=16, decimal_places=2)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    stage: Stage = "lead"
    probability: int | None = Field(default=None, ge=0, le=100)
    owner_id: str | None = None
    company: str | None = Field(default=None, max_length=300)
    contact_email: EmailStr | None = None
    expected_close_date: date | None = None
    notes: str = Field(default="", max_length=10_000)


class DealUpdate(Strict):
    title: str | None = Field(default=None, min_length=1, max_length=300)
    value: Decimal | None = Field(default=None, ge=0, max_digits=16, decimal_places=2)
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    stage: Stage | None = None
    probability: int | None = Field(default=None, ge=0, le=100)
    owner_id: str | None = None
    company: str | None = Field(default=None, max_length=300)
    contact_email: EmailStr | None = None
    expected_close_date: date | None = None
    notes: str | None = Field(default=None, max_length=10_000)


class StageChangeView(BaseModel):
    from_stage: str | None
    to_stage: str
    changed_at: str
    changed_by: str | None


class DealView(BaseModel):
    id: str
    workspace_id: str
    title: str
    company: str | None
    contact_email: str | None
    value: float
    currency: str
    stage: str
    probability: int
    owner_id: str | None
    expected_close_date: str | None
    notes: str
    source: str
    created_at: str
    updated_at: str
    closed_at: str | None
    stage_history: list[StageChangeView] | None = None


class DealList(BaseModel):
    deals: list[DealView]
    total: int
    limit: int
    offset: int


class IntegrationCreate(Strict):
    type: Literal["csv", "json", "rest"]
    name: str = Field(min_length=1, max_length=200)
    config: dict[str, Any] = Field(default_factory=dict)


class IntegrationView(BaseModel):
    id: str
    workspace_id: str
    type: str
    name: str
    status: str
    config: dict[str, Any]  # with secrets masked
    records_synced: int
    last_synced_at: str | None
    last_error: str | None
    created_at: str


class IntegrationList(BaseModel):
    integrations: list[IntegrationView]
    total: int


class SyncAccepted(BaseModel):
    task_id: str
    integration_id: str
    status: str


class InsightView(BaseModel):
    id: str
    workspace_id: str
    kind: str
    type: str
    title: str
    description: str
    priority: str
    confidence: float
    status: str
    data: dict[str, Any]
    created_at: str


class InsightList(BaseModel):
    insights: list[InsightView]
    total: int


class InsightUpdate(Strict):
    status: Literal["viewed", "actioned", "dismissed"]


class InsightRequest(BaseModel):
    workspace_id: str | None = None
    data_type: Literal["deals"] = "deals"
    data: dict[str, float | int] | None = None  # omitted: computed from the workspace's deals


class GeneratedItem(BaseModel):
    title: str
    description: str
    priority: str
    confidence: float
    type: str | None = None


class InsightResponse(BaseModel):
    insights: list[GeneratedItem]
    recommendations: list[GeneratedItem]
