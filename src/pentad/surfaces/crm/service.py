"""CRM operations. Tenancy lives here: every read and write goes through a workspace the caller is a
member of, and anything outside those workspaces is reported as not found (never as forbidden, which
would confirm it exists)."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from pentad.core import channels
from pentad.core.context import CoreServices
from pentad.core.db import after_commit, isoformat_z, utcnow
from pentad.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from pentad.core.identity.models import User
from pentad.core.identity.principal import Principal
from pentad.surfaces.crm.models import (
    CLOSED_STAGES,
    Deal,
    DealStageChange,
    Workspace,
    WorkspaceMember,
)
from pentad.surfaces.crm.schemas import DealCreate, DealUpdate, MemberAdd

DEFAULT_PROBABILITY = {"lead": 10, "qualified": 25, "proposal": 50, "negotiation": 75, "won": 100, "lost": 0}
MANAGER_ROLES = ("owner", "admin")


def parse_id(value: str, resource: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound(resource, value) from None


def deal_payload(deal: Deal) -> dict[str, Any]:
    return {
        "id": str(deal.id),
        "workspace_id": str(deal.workspace_id),
        "title": deal.title,
        "company": deal.company,
        "contact_email": deal.contact_email,
        "value": float(deal.value),
        "currency": deal.currency,
        "stage": deal.stage,
        "probability": deal.probability,
        "owner_id": str(deal.owner_id) if deal.owner_id else None,
        "expected_close_date": deal.expected_close_date.isoformat() if deal.expected_close_date else None,
        "notes": deal.notes,
        "source": deal.source,
        "created_at": isoformat_z(deal.created_at),
        "updated_at": isoformat_z(deal.updated_at),
        "closed_at": isoformat_z(deal.closed_at) if deal.closed_at else None,
    }


class CrmService:
    def __init__(self, core: CoreServices) -> None:
        self.core = core

    # --- events -----------------------------------------------------------------------------------

    def announce(
        self, session: AsyncSession, workspace_id: uuid.UUID, event: str, data: dict[str, Any]
    ) -> None:
        """Publish on the workspace's channel (spec 002 `/ws`) once the transaction has committed."""

        async def publish() -> None:
            await self.core.bus.publish(channels.workspace(workspace_id), event, data)

        after_commit(session, publish)

    # --- workspaces -------------------------------------------------------------------------------

    async def create_workspace(
        self, session: AsyncSession, principal: Principal, name: str, currency: str
    ) -> Workspace:
        workspace = Workspace(name=name, currency=currency, created_by=principal.user_id)
        session.add(workspace)
        await session.flush()
        session.add(WorkspaceMember(workspace_id=workspace.id, user_id=principal.user_id, role="owner"))
        await session.flush()
        return workspace

    async def role_in(self, session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
        member = await session.get(WorkspaceMember, (workspace_id, user_id))
        return member.role if member else None

    async def load_workspace(
        self, session: AsyncSession, principal: Principal, workspace_id: str
    ) -> tuple[Workspace, str]:
        """The workspace and the caller's role in it; 404 unless the caller is a member."""
        ident = parse_id(workspace_id, "workspace")
        workspace = await session.get(Workspace, ident)
        role = await self.role_in(session, ident, principal.user_id) if workspace else None
        if workspace is None or role is None:
            raise NotFound("workspace", workspace_id)
        return workspace, role

    async def workspace_ids_of(self, session: AsyncSession, user_id: uuid.UUID) -> list[uuid.UUID]:
        rows = await session.execute(
            select(WorkspaceMember.workspace_id).where(WorkspaceMember.user_id == user_id)
        )
        return [row[0] for row in rows]

    async def member_count(self, session: AsyncSession, workspace_id: uuid.UUID) -> int:
        query = (
            select(func.count())
            .select_from(WorkspaceMember)
            .where(WorkspaceMember.workspace_id == workspace_id)
        )
        return int((await session.execute(query)).scalar_one())

    async def members(
        self, session: AsyncSession, workspace_id: uuid.UUID
    ) -> list[tuple[WorkspaceMember, User]]:
        rows = await session.execute(
            select(WorkspaceMember, User)
            .join(User, User.id == WorkspaceMember.user_id)
            .where(WorkspaceMember.workspace_id == workspace_id)
            .order_by(WorkspaceMember.joined_at, User.username)
        )
        return [(member, user) for member, user in rows.all()]

    async def add_member(
        self, session: AsyncSession, workspace: Workspace, caller_role: str, body: MemberAdd
    ) -> tuple[WorkspaceMember, User]:
        if caller_role not in MANAGER_ROLES:
            raise Forbidden("Only workspace owners and admins can add members")
        if body.role == "owner" and caller_role != "owner":
            raise Forbidden("Only an owner can add another owner")
        user: User | None = None
        if body.user_id:
            user = await session.get(User, parse_id(body.user_id, "user"))
        elif body.email:
            user = (
                await session.execute(select(User).where(func.lower(User.email) == body.email.lower()))
            ).scalar_one_or_none()
        else:
            raise ValidationFailed(
                "user_id or email is required", fields=[{"field": "user_id", "error": "required"}]
            )
        if user is None:
            raise NotFound("user", body.user_id or str(body.email))
        if await session.get(WorkspaceMember, (workspace.id, user.id)) is not None:
            raise Conflict("User is already a member of this workspace")
        member = WorkspaceMember(workspace_id=workspace.id, user_id=user.id, role=body.role)
        session.add(member)
        await session.flush()
        return member, user

    # --- users ------------------------------------------------------------------------------------

    async def load_user(self, session: AsyncSession, principal: Principal, user_id: str) -> User:
        """A user the caller may see: itself, anyone sharing a workspace with it, or anyone for admins."""
        ident = parse_id(user_id, "user")
        user = await session.get(User, ident)
        if user is None:
            raise NotFound("user", user_id)
        if ident == principal.user_id or principal.can("users.manage"):
            return user
        mine = select(WorkspaceMember.workspace_id).where(WorkspaceMember.user_id == principal.user_id)
        shared = await session.execute(
            select(WorkspaceMember.workspace_id)
            .where(WorkspaceMember.user_id == ident, WorkspaceMember.workspace_id.in_(mine))
            .limit(1)
        )
        if shared.first() is None:
            raise NotFound("user", user_id)
        return user

    # --- deals ------------------------------------------------------------------------------------

    async def _check_owner(
        self, session: AsyncSession, workspace_id: uuid.UUID, owner_id: str | None
    ) -> uuid.UUID | None:
        if owner_id is None:
            return None
        ident = parse_id(owner_id, "user")
        if await self.role_in(session, workspace_id, ident) is None:
            raise ValidationFailed(
                "owner_id must be a member of the workspace",
                fields=[{"field": "owner_id", "error": "not a member of this workspace"}],
            )
        return ident

    async def list_deals(
        self,
        session: AsyncSession,
        workspace_id: uuid.UUID,
        *,
        stage: str | None,
        assigned_to: str | None,
        limit: int,
        offset: int,
    ) -> tuple[list[Deal], int]:
        query = select(Deal).where(Deal.workspace_id == workspace_id)
        if stage is not None:
            query = query.where(Deal.stage == stage)
        if assigned_to is not None:
            query = query.where(Deal.owner_id == parse_id(assigned_to, "user"))
        total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
        rows = await session.execute(
            query.order_by(Deal.created_at.desc(), Deal.id).limit(limit).offset(offset)
        )
        return list(rows.scalars()), int(total)

    async def create_deal(
        self,
        session: AsyncSession,
        principal: Principal | None,
        workspace: Workspace,
        body: DealCreate,
        **extra: Any,
    ) -> Deal:
        owner = await self._check_owner(session, workspace.id, body.owner_id)
        deal = Deal(
            workspace_id=workspace.id,
            title=body.title,
            company=body.company,
            contact_email=body.contact_email,
            value=body.value,
            currency=body.currency or workspace.currency,
            stage=body.stage,
            probability=body.probability if body.probability is not None else DEFAULT_PROBABILITY[body.stage],
            owner_id=owner if owner else (principal.user_id if principal else None),
            expected_close_date=body.expected_close_date,
            notes=body.notes,
            closed_at=utcnow() if body.stage in CLOSED_STAGES else None,
            **extra,
        )
        session.add(deal)
        await session.flush()
        session.add(
            DealStageChange(
                deal_id=deal.id,
                workspace_id=workspace.id,
                from_stage=None,
                to_stage=deal.stage,
                changed_by=principal.user_id if principal else None,
            )
        )
        await session.flush()
        self.announce(session, workspace.id, "deal.created", deal_payload(deal))
        return deal

    async def load_deal(self, session: AsyncSession, principal: Principal, deal_id: str) -> Deal:
        deal = await session.get(Deal, parse_id(deal_id, "deal"))
        if deal is None or await self.role_in(session, deal.workspace_id, principal.user_id) is None:
            raise NotFound("deal", deal_id)
        return deal

    async def update_deal(
        self, session: AsyncSession, principal: Principal | None, deal: Deal, body: DealUpdate
    ) -> Deal:
        changes = body.model_dump(exclude_unset=True)
        if "owner_id" in changes:
            deal.owner_id = await self._check_owner(session, deal.workspace_id, changes.pop("owner_id"))
        new_stage = changes.pop("stage", None)
        for name, value in changes.items():
            if value is None and name in ("title", "value", "currency", "probability", "notes"):
                raise ValidationFailed(
                    f"{name} cannot be null", fields=[{"field": name, "error": "cannot be null"}]
                )
            setattr(deal, name, value)
        if new_stage is not None and new_stage != deal.stage:
            await self.move(session, principal, deal, new_stage, probability_given="probability" in changes)
        deal.updated_at = utcnow()
        await session.flush()
        self.announce(session, deal.workspace_id, "deal.updated", deal_payload(deal))
        return deal

    async def move(
        self,
        session: AsyncSession,
        principal: Principal | None,
        deal: Deal,
        stage: str,
        *,
        probability_given: bool,
    ) -> None:
        session.add(
            DealStageChange(
                deal_id=deal.id,
                workspace_id=deal.workspace_id,
                from_stage=deal.stage,
                to_stage=stage,
                changed_by=principal.user_id if principal else None,
            )
        )
        deal.stage = stage
        if not probability_given:
            deal.probability = DEFAULT_PROBABILITY[stage]
        deal.closed_at = utcnow() if stage in CLOSED_STAGES else None
        if stage in CLOSED_STAGES:
            event = f"deal.{stage}"
            data = {
                "deal_id": str(deal.id),
                "value": float(deal.value),
                "workspace_id": str(deal.workspace_id),
            }
            await self.core.webhooks.emit(session, event, data, style="crm", scope=str(deal.workspace_id))
            self.announce(session, deal.workspace_id, event, data)

    async def delete_deal(self, session: AsyncSession, deal: Deal) -> None:
        workspace_id, deal_id = deal.workspace_id, deal.id
        await session.delete(deal)
        await session.flush()
        self.announce(
            session, workspace_id, "deal.deleted", {"id": str(deal_id), "workspace_id": str(workspace_id)}
        )

    async def stage_history(self, session: AsyncSession, deal_id: uuid.UUID) -> list[DealStageChange]:
        rows = await session.execute(
            select(DealStageChange)
            .where(DealStageChange.deal_id == deal_id)
            .order_by(DealStageChange.changed_at)
        )
        return list(rows.scalars())


def as_decimal(value: float | int | str) -> Decimal:
    return Decimal(str(value))


def today() -> date:
    return utcnow().date()
