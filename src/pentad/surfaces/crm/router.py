"""spec 002 endpoints under `/api/v1`: users, workspaces, deals, integrations, insights, analytics.

Every route is authenticated (router dependency) and scoped to the caller's workspaces: `CurrentWorkspace`
and `CurrentDeal` load the object or answer 404 when the caller is not a member.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response, UploadFile
from sqlalchemy import func, select

from pentad.core.db import isoformat_z
from pentad.core.errors import Forbidden, NotFound, ValidationFailed
from pentad.core.identity.dependencies import Core, CurrentPrincipal, DbSession, get_principal
from pentad.core.identity.models import User
from pentad.core.identity.passwords import hash_password
from pentad.core.webhooks.schemas import WebhookCreate, WebhookView, webhook_view
from pentad.surfaces.crm import analytics
from pentad.surfaces.crm.connectors import masked, validate_config
from pentad.surfaces.crm.insights import Finding, generate
from pentad.surfaces.crm.jobs import SYNC_JOB
from pentad.surfaces.crm.models import Deal, Insight, Integration, Workspace, WorkspaceMember
from pentad.surfaces.crm.schemas import (
    DealCreate,
    DealList,
    DealUpdate,
    DealView,
    GeneratedItem,
    InsightList,
    InsightRequest,
    InsightResponse,
    InsightUpdate,
    InsightView,
    IntegrationCreate,
    IntegrationList,
    IntegrationView,
    MemberAdd,
    MembersView,
    MemberView,
    Priority,
    Stage,
    StageChangeView,
    SyncAccepted,
    UserCreate,
    UserUpdate,
    UserView,
    WorkspaceCreate,
    WorkspaceView,
)
from pentad.surfaces.crm.service import MANAGER_ROLES, CrmService, deal_payload, parse_id

router = APIRouter(prefix="/api/v1", tags=["CRM"], dependencies=[Depends(get_principal)])

MAX_UPLOAD_BYTES = 50 * 1024 * 1024


async def crm_service(core: Core) -> CrmService:
    return CrmService(core)


Crm = Annotated[CrmService, Depends(crm_service)]


async def current_workspace(
    workspace_id: str, principal: CurrentPrincipal, crm: Crm, session: DbSession
) -> tuple[Workspace, str]:
    return await crm.load_workspace(session, principal, workspace_id)


CurrentWorkspace = Annotated[tuple[Workspace, str], Depends(current_workspace)]


async def current_deal(deal_id: str, principal: CurrentPrincipal, crm: Crm, session: DbSession) -> Deal:
    return await crm.load_deal(session, principal, deal_id)


CurrentDeal = Annotated[Deal, Depends(current_deal)]


def user_view(user: User) -> UserView:
    return UserView(
        id=str(user.id),
        email=user.email,
        username=user.username,
        name=user.name,
        roles=list(user.roles),
        is_active=user.is_active,
        created_at=isoformat_z(user.created_at),
    )


def member_view(member: WorkspaceMember, user: User) -> MemberView:
    return MemberView(
        user_id=str(user.id),
        email=user.email,
        name=user.name,
        role=member.role,
        joined_at=isoformat_z(member.joined_at),
    )


def require_manager(role: str) -> None:
    if role not in MANAGER_ROLES:
        raise Forbidden("Only workspace owners and admins manage webhooks")


def deal_view(deal: Deal, history: list[StageChangeView] | None = None) -> DealView:
    return DealView(**deal_payload(deal), stage_history=history)


def integration_view(integration: Integration) -> IntegrationView:
    return IntegrationView(
        id=str(integration.id),
        workspace_id=str(integration.workspace_id),
        type=integration.type,
        name=integration.name,
        status=integration.status,
        config=masked(integration.config),
        records_synced=integration.records_synced,
        last_synced_at=isoformat_z(integration.last_synced_at) if integration.last_synced_at else None,
        last_error=integration.last_error,
        created_at=isoformat_z(integration.created_at),
    )


def insight_view(insight: Insight) -> InsightView:
    return InsightView(
        id=str(insight.id),
        workspace_id=str(insight.workspace_id),
        kind=insight.kind,
        type=insight.type,
        title=insight.title,
        description=insight.description,
        priority=insight.priority,
        confidence=insight.confidence,
        status=insight.status,
        data=insight.data,
        created_at=isoformat_z(insight.created_at),
    )


# --- users ----------------------------------------------------------------------------------------


@router.post("/users", status_code=201, response_model=UserView, summary="Create new user")
async def create_user(
    body: UserCreate, principal: CurrentPrincipal, core: Core, session: DbSession
) -> UserView:
    if not principal.can("users.manage"):
        raise Forbidden("Only administrators can create users")
    user = await core.identity.create_user(
        session,
        email=body.email,
        username=body.username,
        password=body.password,
        roles=list(body.roles),
        name=body.name,
    )
    return user_view(user)


@router.get("/users/{user_id}", response_model=UserView, summary="Get user profile")
async def get_user(user_id: str, principal: CurrentPrincipal, crm: Crm, session: DbSession) -> UserView:
    return user_view(await crm.load_user(session, principal, user_id))


@router.patch("/users/{user_id}", response_model=UserView, summary="Update user profile")
async def update_user(
    user_id: str, body: UserUpdate, principal: CurrentPrincipal, crm: Crm, core: Core, session: DbSession
) -> UserView:
    user = await crm.load_user(session, principal, user_id)
    is_admin = principal.can("users.manage")
    if user.id != principal.user_id and not is_admin:
        raise Forbidden("You can only update your own profile")
    changes = body.model_dump(exclude_unset=True)
    if ("roles" in changes or "is_active" in changes) and not is_admin:
        raise Forbidden("Only administrators can change roles or deactivate users")
    if "email" in changes and changes["email"] is not None:
        taken = await session.execute(
            select(User.id).where(func.lower(User.email) == changes["email"].lower(), User.id != user.id)
        )
        if taken.first() is not None:
            raise ValidationFailed(
                "Email is already in use", fields=[{"field": "email", "error": "already in use"}]
            )
        user.email = changes["email"]
    if changes.get("name") is not None:
        user.name = changes["name"]
    if changes.get("password") is not None:
        user.password_hash = hash_password(changes["password"])
    if changes.get("roles") is not None:
        if not changes["roles"]:
            raise ValidationFailed("roles cannot be empty", fields=[{"field": "roles", "error": "empty"}])
        user.roles = list(dict.fromkeys(changes["roles"]))
    if changes.get("is_active") is not None:
        user.is_active = changes["is_active"]
    if {"roles", "is_active", "password"} & set(changes):
        core.identity.cache.evict_where(user_id=user.id)
    await session.flush()
    return user_view(user)


# --- workspaces -----------------------------------------------------------------------------------


@router.post("/workspaces", status_code=201, response_model=WorkspaceView, summary="Create workspace")
async def create_workspace(
    body: WorkspaceCreate, principal: CurrentPrincipal, crm: Crm, session: DbSession
) -> WorkspaceView:
    if not principal.can("crm.access"):
        raise Forbidden("Missing permission 'crm.access'")
    workspace = await crm.create_workspace(session, principal, body.name, body.currency)
    return WorkspaceView(
        id=str(workspace.id),
        name=workspace.name,
        currency=workspace.currency,
        role="owner",
        member_count=1,
        created_at=isoformat_z(workspace.created_at),
    )


@router.get("/workspaces/{workspace_id}", response_model=WorkspaceView, summary="Get workspace details")
async def get_workspace(current: CurrentWorkspace, crm: Crm, session: DbSession) -> WorkspaceView:
    workspace, role = current
    return WorkspaceView(
        id=str(workspace.id),
        name=workspace.name,
        currency=workspace.currency,
        role=role,
        member_count=await crm.member_count(session, workspace.id),
        created_at=isoformat_z(workspace.created_at),
    )


@router.get(
    "/workspaces/{workspace_id}/members", response_model=MembersView, summary="List workspace members"
)
async def list_members(current: CurrentWorkspace, crm: Crm, session: DbSession) -> MembersView:
    members = [member_view(member, user) for member, user in await crm.members(session, current[0].id)]
    return MembersView(members=members, total=len(members))


@router.post(
    "/workspaces/{workspace_id}/members",
    status_code=201,
    response_model=MemberView,
    summary="Add a member (owners and admins)",
)
async def add_member(body: MemberAdd, current: CurrentWorkspace, crm: Crm, session: DbSession) -> MemberView:
    member, user = await crm.add_member(session, current[0], current[1], body)
    return member_view(member, user)


# --- deals ----------------------------------------------------------------------------------------


@router.get("/workspaces/{workspace_id}/deals", response_model=DealList, summary="List all deals")
async def list_deals(
    current: CurrentWorkspace,
    crm: Crm,
    session: DbSession,
    stage: Stage | None = None,
    assigned_to: Annotated[str | None, Query(alias="assignedTo")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,  # SQLite holds 64-bit integers only
) -> DealList:
    deals, total = await crm.list_deals(
        session, current[0].id, stage=stage, assigned_to=assigned_to, limit=limit, offset=offset
    )
    return DealList(deals=[deal_view(deal) for deal in deals], total=total, limit=limit, offset=offset)


@router.post(
    "/workspaces/{workspace_id}/deals", status_code=201, response_model=DealView, summary="Create new deal"
)
async def create_deal(
    body: DealCreate, current: CurrentWorkspace, principal: CurrentPrincipal, crm: Crm, session: DbSession
) -> DealView:
    return deal_view(await crm.create_deal(session, principal, current[0], body))


@router.get("/deals/{deal_id}", response_model=DealView, summary="Get deal details")
async def get_deal(deal: CurrentDeal, crm: Crm, session: DbSession) -> DealView:
    history = [
        StageChangeView(
            from_stage=item.from_stage,
            to_stage=item.to_stage,
            changed_at=isoformat_z(item.changed_at),
            changed_by=str(item.changed_by) if item.changed_by else None,
        )
        for item in await crm.stage_history(session, deal.id)
    ]
    return deal_view(deal, history)


@router.patch("/deals/{deal_id}", response_model=DealView, summary="Update deal")
async def update_deal(
    body: DealUpdate, deal: CurrentDeal, principal: CurrentPrincipal, crm: Crm, session: DbSession
) -> DealView:
    return deal_view(await crm.update_deal(session, principal, deal, body))


@router.delete("/deals/{deal_id}", status_code=204, response_class=Response, summary="Delete deal")
async def delete_deal(deal: CurrentDeal, crm: Crm, session: DbSession) -> Response:
    await crm.delete_deal(session, deal)
    return Response(status_code=204)


# --- integrations ---------------------------------------------------------------------------------


@router.get(
    "/workspaces/{workspace_id}/integrations",
    response_model=IntegrationList,
    summary="List connected integrations",
)
async def list_integrations(current: CurrentWorkspace, session: DbSession) -> IntegrationList:
    rows = await session.execute(
        select(Integration).where(Integration.workspace_id == current[0].id).order_by(Integration.created_at)
    )
    items = [integration_view(item) for item in rows.scalars()]
    return IntegrationList(integrations=items, total=len(items))


@router.post(
    "/workspaces/{workspace_id}/integrations",
    status_code=201,
    response_model=IntegrationView,
    summary="Connect new integration",
)
async def connect_integration(
    body: IntegrationCreate,
    current: CurrentWorkspace,
    principal: CurrentPrincipal,
    core: Core,
    session: DbSession,
) -> IntegrationView:
    validate_config(body.type, body.config, core.settings.webhooks.allowed_hosts)
    integration = Integration(
        workspace_id=current[0].id,
        type=body.type,
        name=body.name,
        config=body.config,
        created_by=principal.user_id,
    )
    session.add(integration)
    await session.flush()
    return integration_view(integration)


async def _load_integration(
    session: DbSession, crm: CrmService, principal: Any, integration_id: str
) -> Integration:
    integration = await session.get(Integration, parse_id(integration_id, "integration"))
    if integration is None or await crm.role_in(session, integration.workspace_id, principal.user_id) is None:
        raise NotFound("integration", integration_id)
    return integration


@router.delete(
    "/integrations/{integration_id}",
    status_code=204,
    response_class=Response,
    summary="Disconnect integration",
)
async def disconnect_integration(
    integration_id: str, principal: CurrentPrincipal, crm: Crm, session: DbSession
) -> Response:
    integration = await _load_integration(session, crm, principal, integration_id)
    await session.delete(integration)  # imported deals stay: they are the workspace's data now
    return Response(status_code=204)


@router.post(
    "/integrations/{integration_id}/sync",
    status_code=202,
    response_model=SyncAccepted,
    summary="Trigger manual sync (optionally with an uploaded CSV/JSON file)",
)
async def sync_integration(
    integration_id: str,
    request: Request,
    principal: CurrentPrincipal,
    crm: Crm,
    core: Core,
    session: DbSession,
    file: UploadFile | None = None,
) -> SyncAccepted:
    integration = await _load_integration(session, crm, principal, integration_id)
    payload: dict[str, Any] = {"integration_id": str(integration.id)}
    if file is not None:
        if integration.type == "rest":
            raise ValidationFailed(
                "rest integrations take no file", fields=[{"field": "file", "error": "not allowed"}]
            )
        content = await file.read(MAX_UPLOAD_BYTES + 1)
        if len(content) > MAX_UPLOAD_BYTES:
            raise ValidationFailed(
                "file is larger than 50 MiB", fields=[{"field": "file", "error": "too large"}]
            )
        uploads = core.settings.server.data_dir / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        path = uploads / f"{integration.id}-{secrets.token_hex(8)}.{integration.type}"
        path.write_bytes(content)
        payload["upload_path"] = str(path)
    job = await core.jobs.submit(
        session, SYNC_JOB, payload, owner_id=principal.user_id, subject_id=str(integration.id)
    )
    return SyncAccepted(task_id=str(job.id), integration_id=str(integration.id), status="pending")


# --- insights -------------------------------------------------------------------------------------


async def _workspace_numbers(session: DbSession, workspace_id: uuid.UUID) -> dict[str, float]:
    pipe = await analytics.pipeline(session, workspace_id)
    counts = {row["stage"]: row["count"] for row in pipe["stages"]}
    won, lost = counts["won"], counts["lost"]
    total = pipe["total_deals"]
    largest = (
        await session.execute(
            select(func.max(Deal.value)).where(
                Deal.workspace_id == workspace_id,
                Deal.stage.in_(("lead", "qualified", "proposal", "negotiation")),
            )
        )
    ).scalar_one()
    forecast = await analytics.forecast(session, workspace_id, periods=1)
    numbers: dict[str, float] = {
        "total_deals": total,
        "won_deals": won,
        "lost_deals": lost,
        "in_progress": total - won - lost,
        "stalled_deals": pipe["stalled_deals"],
        "open_pipeline_value": pipe["open_pipeline"]["total_value"],
        "largest_open_value": float(largest or 0),
        "forecast_next_period": forecast["periods"][0]["forecast"],
    }
    if pipe["average_deal_size"] is not None:
        numbers["average_deal_value"] = pipe["average_deal_size"]
    if total:
        numbers["conversion_rate"] = round(won / total, 4)
    return numbers


def _item(finding: Finding) -> GeneratedItem:
    return GeneratedItem(
        title=finding.title,
        description=finding.description,
        priority=finding.priority,
        confidence=finding.confidence,
        type=finding.type,
    )


@router.post(
    "/insights", response_model=InsightResponse, summary="Generate AI-powered insights from business data"
)
async def generate_insights(
    body: InsightRequest, principal: CurrentPrincipal, crm: Crm, core: Core, session: DbSession
) -> InsightResponse:
    workspace: Workspace | None = None
    if body.workspace_id:
        workspace, _role = await crm.load_workspace(session, principal, body.workspace_id)
    if body.data is None and workspace is None:
        raise ValidationFailed(
            "Send data, or a workspace_id to compute it from",
            fields=[{"field": "data", "error": "required without workspace_id"}],
        )
    if body.data is not None:
        numbers = {key: float(value) for key, value in body.data.items()}
    else:
        assert workspace is not None
        numbers = await _workspace_numbers(session, workspace.id)
    findings = generate(numbers)
    if workspace is not None:
        for finding in findings:
            insight = Insight(
                workspace_id=workspace.id,
                kind=finding.kind,
                type=finding.type,
                title=finding.title,
                description=finding.description,
                priority=finding.priority,
                confidence=finding.confidence,
                data=finding.data,
            )
            session.add(insight)
            await session.flush()
            view = insight_view(insight).model_dump()
            crm.announce(session, workspace.id, "insight.generated", view)
            if finding.priority == "critical":
                await core.webhooks.emit(
                    session, "insight.critical", view, style="crm", scope=str(workspace.id)
                )
    return InsightResponse(
        insights=[_item(f) for f in findings if f.kind == "insight"],
        recommendations=[_item(f) for f in findings if f.kind == "recommendation"],
    )


@router.get("/workspaces/{workspace_id}/insights", response_model=InsightList, summary="Get recent insights")
async def list_insights(
    current: CurrentWorkspace,
    session: DbSession,
    type: str | None = None,
    priority: Priority | None = None,
    status: Annotated[str | None, Query(pattern="^(new|viewed|actioned|dismissed)$")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> InsightList:
    query = select(Insight).where(Insight.workspace_id == current[0].id)
    if type:
        query = query.where(Insight.type == type)
    if priority:
        query = query.where(Insight.priority == priority)
    if status:
        query = query.where(Insight.status == status)
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(query.order_by(Insight.created_at.desc()).limit(limit))
    return InsightList(insights=[insight_view(item) for item in rows.scalars()], total=int(total))


@router.patch("/insights/{insight_id}", response_model=InsightView, summary="Update insight status")
async def update_insight(
    insight_id: str, body: InsightUpdate, principal: CurrentPrincipal, crm: Crm, session: DbSession
) -> InsightView:
    insight = await session.get(Insight, parse_id(insight_id, "insight"))
    if insight is None or await crm.role_in(session, insight.workspace_id, principal.user_id) is None:
        raise NotFound("insight", insight_id)
    insight.status = body.status
    await session.flush()
    return insight_view(insight)


# --- analytics ------------------------------------------------------------------------------------


@router.get("/workspaces/{workspace_id}/analytics/pipeline", summary="Get pipeline metrics")
async def pipeline_metrics(current: CurrentWorkspace, session: DbSession) -> dict[str, Any]:
    return await analytics.pipeline(session, current[0].id)


@router.get("/workspaces/{workspace_id}/analytics/conversion", summary="Get conversion funnel data")
async def conversion_funnel(current: CurrentWorkspace, session: DbSession) -> dict[str, Any]:
    return await analytics.conversion(session, current[0].id)


@router.get("/workspaces/{workspace_id}/analytics/forecast", summary="Get revenue forecast")
async def revenue_forecast(
    current: CurrentWorkspace, session: DbSession, periods: Annotated[int, Query(ge=1, le=24)] = 3
) -> dict[str, Any]:
    return await analytics.forecast(session, current[0].id, periods)


# --- webhooks (spec 002 "Webhooks (Planned)": deal.won, deal.lost, insight.critical, integration.failed) ---

CRM_EVENTS = ("deal.won", "deal.lost", "insight.critical", "integration.failed", "*")


@router.post(
    "/workspaces/{workspace_id}/webhooks",
    status_code=201,
    response_model=WebhookView,
    summary="Subscribe a URL to this workspace's events",
)
async def create_webhook(
    body: WebhookCreate,
    current: CurrentWorkspace,
    principal: CurrentPrincipal,
    core: Core,
    session: DbSession,
) -> WebhookView:
    workspace, role = current
    require_manager(role)
    unknown = [event for event in body.events if event not in CRM_EVENTS]
    if unknown:
        raise ValidationFailed(
            "Unknown webhook events",
            fields=[{"field": "events", "error": f"unknown {unknown}; known: {list(CRM_EVENTS)}"}],
        )
    subscription = await core.webhooks.create(
        session,
        owner_id=principal.user_id,
        url=body.url,
        events=body.events,
        secret=body.secret,
        style="crm",
        scope=str(workspace.id),
    )
    return webhook_view(subscription)


@router.get("/workspaces/{workspace_id}/webhooks", response_model=list[WebhookView], summary="List webhooks")
async def list_webhooks(current: CurrentWorkspace, core: Core, session: DbSession) -> list[WebhookView]:
    items = await core.webhooks.list_for(session, style="crm", owner_id=None, scope=str(current[0].id))
    return [webhook_view(item) for item in items]


@router.delete(
    "/workspaces/{workspace_id}/webhooks/{webhook_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a webhook",
)
async def delete_webhook(
    webhook_id: str, current: CurrentWorkspace, core: Core, session: DbSession
) -> Response:
    workspace, role = current
    require_manager(role)
    subscription = await core.webhooks.get(session, webhook_id, owner_id=None)
    if subscription.scope != str(workspace.id) or subscription.style != "crm":
        raise NotFound("webhook", webhook_id)
    await core.webhooks.delete(session, subscription)
    return Response(status_code=204)
