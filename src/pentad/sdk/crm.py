"""spec 002 (VectorOS CRM): `CRMClient` / `AsyncCRMClient` for users, workspaces and members, deals,
integrations and their syncs, insights, analytics, the sales chat, workspace webhooks, and the `/ws`
event stream. Authentication: `token=` (a JWT, as the document has it) or `api_key=`, both as
`Authorization: Bearer`. Everything lives in a workspace; objects of other workspaces are 404s.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from typing import IO, Any

from pydantic import Field

from pentad.sdk._core import Call, Model, compact, parse_list, parse_model, parse_nothing, parse_object
from pentad.sdk._transport import AsyncClient, SyncClient
from pentad.sdk.gateway import AsyncTasks, Tasks
from pentad.sdk.vsm import Webhook
from pentad.sdk.websocket import AsyncWebSocketStream, WebSocketStream

__all__ = [
    "ApiInfo",
    "AsyncCRMClient",
    "CRMClient",
    "CrmChat",
    "CrmEvent",
    "CrmHealth",
    "CrmUser",
    "Deal",
    "DealList",
    "GeneratedInsight",
    "Insight",
    "InsightList",
    "InsightReport",
    "Integration",
    "IntegrationList",
    "Member",
    "MemberList",
    "SyncAccepted",
    "Workspace",
]

Upload = bytes | IO[bytes] | tuple[str, bytes | IO[bytes]]


class ApiInfo(Model):
    message: str
    version: str


class CrmHealth(Model):
    status: str
    service: str | None = None
    timestamp: datetime | None = None


class CrmUser(Model):
    id: str
    email: str
    username: str
    name: str
    roles: list[str]
    is_active: bool
    created_at: datetime


class Workspace(Model):
    id: str
    name: str
    currency: str
    role: str
    member_count: int
    created_at: datetime


class Member(Model):
    user_id: str
    email: str
    name: str
    role: str
    joined_at: datetime


class MemberList(Model):
    members: list[Member]
    total: int


class StageChange(Model):
    from_stage: str | None = None
    to_stage: str
    changed_at: datetime
    changed_by: str | None = None


class Deal(Model):
    id: str
    workspace_id: str
    title: str
    company: str | None = None
    contact_email: str | None = None
    value: float
    currency: str
    stage: str
    probability: int
    owner_id: str | None = None
    expected_close_date: date | None = None
    notes: str = ""
    source: str
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None = None
    stage_history: list[StageChange] | None = None


class DealList(Model):
    deals: list[Deal]
    total: int
    limit: int
    offset: int


class Integration(Model):
    id: str
    workspace_id: str
    type: str
    name: str
    status: str
    config: dict[str, Any]
    records_synced: int
    last_synced_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime


class IntegrationList(Model):
    integrations: list[Integration]
    total: int


class SyncAccepted(Model):
    task_id: str
    integration_id: str
    status: str


class Insight(Model):
    id: str
    workspace_id: str
    kind: str
    type: str
    title: str
    description: str
    priority: str
    confidence: float
    status: str
    data: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime


class InsightList(Model):
    insights: list[Insight]
    total: int


class GeneratedInsight(Model):
    title: str
    description: str
    priority: str
    confidence: float
    type: str | None = None


class InsightReport(Model):
    insights: list[GeneratedInsight]
    recommendations: list[GeneratedInsight]


class ChatSource(Model):
    deal_id: str
    title: str
    score: float


class CrmChat(Model):
    response: str
    confidence: float
    sources: list[ChatSource] = Field(default_factory=list)


class CrmEvent(Model):
    """A `/ws` message: `deal.created`, `deal.won`, `insight.generated`, `integration.synced`, ..."""

    event: str
    data: dict[str, Any] = Field(default_factory=dict)


# --- operations -----------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # exact: the server reads money as a decimal
    if isinstance(value, date):
        return value.isoformat()
    return value


def _body(**values: Any) -> dict[str, Any]:
    return {key: _jsonable(value) for key, value in compact(**values).items()}


def _ws(workspace_id: str) -> str:
    return f"/api/v1/workspaces/{workspace_id}"


def _create_user(
    email: str, username: str, password: str, name: str | None, roles: Sequence[str] | None
) -> Call[CrmUser]:
    body = _body(email=email, username=username, password=password, name=name, roles=roles and list(roles))
    return Call("POST", "/api/v1/users", parse_model(CrmUser), json=body)


def _update_user(user_id: str, body: dict[str, Any]) -> Call[CrmUser]:
    return Call("PATCH", f"/api/v1/users/{user_id}", parse_model(CrmUser), json=body)


def _list_deals(
    workspace_id: str, stage: str | None, assigned_to: str | None, limit: int | None, offset: int | None
) -> Call[DealList]:
    params = compact(stage=stage, assignedTo=assigned_to, limit=limit, offset=offset)
    return Call("GET", f"{_ws(workspace_id)}/deals", parse_model(DealList), params=params)


def _deal_fields(
    value: float | Decimal | None,
    currency: str | None,
    stage: str | None,
    probability: int | None,
    owner_id: str | None,
    company: str | None,
    contact_email: str | None,
    expected_close_date: date | str | None,
    notes: str | None,
) -> dict[str, Any]:
    return _body(
        value=value,
        currency=currency,
        stage=stage,
        probability=probability,
        owner_id=owner_id,
        company=company,
        contact_email=contact_email,
        expected_close_date=expected_close_date,
        notes=notes,
    )


def _sync(integration_id: str, file: Upload | None, filename: str) -> Call[SyncAccepted]:
    files = None
    if file is not None:
        files = {"file": file if isinstance(file, tuple) else (filename, file)}
    return Call("POST", f"/api/v1/integrations/{integration_id}/sync", parse_model(SyncAccepted), files=files)


def _list_insights(
    workspace_id: str, type: str | None, priority: str | None, status: str | None, limit: int | None
) -> Call[InsightList]:
    params = compact(type=type, priority=priority, status=status, limit=limit)
    return Call("GET", f"{_ws(workspace_id)}/insights", parse_model(InsightList), params=params)


def _generate(
    workspace_id: str | None, data: Mapping[str, float] | None, data_type: str
) -> Call[InsightReport]:
    body = _body(
        workspace_id=workspace_id, data_type=data_type, data=dict(data) if data is not None else None
    )
    return Call("POST", "/api/v1/insights", parse_model(InsightReport), json=body)


def _analytics(workspace_id: str, kind: str, params: Mapping[str, Any] | None = None) -> Call[dict[str, Any]]:
    return Call("GET", f"{_ws(workspace_id)}/analytics/{kind}", parse_object, params=params)


def _chat(message: str, workspace_id: str | None, user_id: str | None) -> Call[CrmChat]:
    body = {"message": message, "context": compact(workspace_id=workspace_id, user_id=user_id)}
    return Call("POST", "/api/v1/chat", parse_model(CrmChat), json=body)


def _crm_event(message: dict[str, Any]) -> CrmEvent:
    return CrmEvent.model_validate(message)


def _is_connected(message: dict[str, Any]) -> bool:
    return message.get("event") == "connected"


_INFO = Call("GET", "/api/v1", parse_model(ApiInfo))
_HEALTH = Call("GET", "/health", parse_model(CrmHealth))


# --- sync client ----------------------------------------------------------------------------------


class _Part:
    def __init__(self, client: CRMClient) -> None:
        self._client = client


class Users(_Part):
    def create(
        self,
        email: str,
        username: str,
        password: str,
        *,
        name: str | None = None,
        roles: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> CrmUser:
        """Platform admins only."""
        return self._client._send(_create_user(email, username, password, name, roles), idempotency_key)

    def get(self, user_id: str) -> CrmUser:
        return self._client._send(Call("GET", f"/api/v1/users/{user_id}", parse_model(CrmUser)))

    def update(
        self,
        user_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        password: str | None = None,
        roles: Sequence[str] | None = None,
        is_active: bool | None = None,
    ) -> CrmUser:
        """Change only the given fields (`roles` and `is_active`: admins only)."""
        body = _body(
            name=name, email=email, password=password, roles=roles and list(roles), is_active=is_active
        )
        return self._client._send(_update_user(user_id, body))


class Workspaces(_Part):
    def create(
        self, name: str, *, currency: str | None = None, idempotency_key: str | None = None
    ) -> Workspace:
        call = Call(
            "POST", "/api/v1/workspaces", parse_model(Workspace), json=_body(name=name, currency=currency)
        )
        return self._client._send(call, idempotency_key)

    def get(self, workspace_id: str) -> Workspace:
        return self._client._send(Call("GET", _ws(workspace_id), parse_model(Workspace)))

    def members(self, workspace_id: str) -> MemberList:
        return self._client._send(Call("GET", f"{_ws(workspace_id)}/members", parse_model(MemberList)))

    def add_member(
        self,
        workspace_id: str,
        *,
        user_id: str | None = None,
        email: str | None = None,
        role: str | None = None,
    ) -> Member:
        body = _body(user_id=user_id, email=email, role=role)
        return self._client._send(
            Call("POST", f"{_ws(workspace_id)}/members", parse_model(Member), json=body)
        )


class Deals(_Part):
    def list(
        self,
        workspace_id: str,
        *,
        stage: str | None = None,
        assigned_to: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> DealList:
        """Newest first; `assigned_to` is the document's `assignedTo` filter."""
        return self._client._send(_list_deals(workspace_id, stage, assigned_to, limit, offset))

    def create(
        self,
        workspace_id: str,
        title: str,
        *,
        value: float | Decimal | None = None,
        currency: str | None = None,
        stage: str | None = None,
        probability: int | None = None,
        owner_id: str | None = None,
        company: str | None = None,
        contact_email: str | None = None,
        expected_close_date: date | str | None = None,
        notes: str | None = None,
        idempotency_key: str | None = None,
    ) -> Deal:
        fields = _deal_fields(
            value, currency, stage, probability, owner_id, company, contact_email, expected_close_date, notes
        )
        call = Call("POST", f"{_ws(workspace_id)}/deals", parse_model(Deal), json={"title": title, **fields})
        return self._client._send(call, idempotency_key)

    def get(self, deal_id: str) -> Deal:
        return self._client._send(Call("GET", f"/api/v1/deals/{deal_id}", parse_model(Deal)))

    def update(
        self,
        deal_id: str,
        *,
        title: str | None = None,
        value: float | Decimal | None = None,
        currency: str | None = None,
        stage: str | None = None,
        probability: int | None = None,
        owner_id: str | None = None,
        company: str | None = None,
        contact_email: str | None = None,
        expected_close_date: date | str | None = None,
        notes: str | None = None,
    ) -> Deal:
        """Change only the given fields; a stage change is recorded in `stage_history`."""
        body = _body(title=title) | _deal_fields(
            value, currency, stage, probability, owner_id, company, contact_email, expected_close_date, notes
        )
        return self._client._send(Call("PATCH", f"/api/v1/deals/{deal_id}", parse_model(Deal), json=body))

    def delete(self, deal_id: str) -> None:
        self._client._send(Call("DELETE", f"/api/v1/deals/{deal_id}", parse_nothing))


class Integrations(_Part):
    def list(self, workspace_id: str) -> IntegrationList:
        return self._client._send(
            Call("GET", f"{_ws(workspace_id)}/integrations", parse_model(IntegrationList))
        )

    def create(
        self,
        workspace_id: str,
        type: str,
        name: str,
        config: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Integration:
        """`type` is `csv`, `json` or `rest`; see docs/surfaces/crm.md for `config`."""
        body = {"type": type, "name": name, "config": dict(config or {})}
        call = Call("POST", f"{_ws(workspace_id)}/integrations", parse_model(Integration), json=body)
        return self._client._send(call, idempotency_key)

    def delete(self, integration_id: str) -> None:
        self._client._send(Call("DELETE", f"/api/v1/integrations/{integration_id}", parse_nothing))

    def sync(
        self, integration_id: str, *, file: Upload | None = None, filename: str = "upload"
    ) -> SyncAccepted:
        """Start a sync (a task: follow it with `client.tasks.wait(task_id)`), optionally uploading
        the CSV/JSON file to import."""
        return self._client._send(_sync(integration_id, file, filename))


class Insights(_Part):
    def list(
        self,
        workspace_id: str,
        *,
        type: str | None = None,
        priority: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> InsightList:
        return self._client._send(_list_insights(workspace_id, type, priority, status, limit))

    def update(self, insight_id: str, status: str) -> Insight:
        """`status`: `viewed`, `actioned` or `dismissed`."""
        call = Call("PATCH", f"/api/v1/insights/{insight_id}", parse_model(Insight), json={"status": status})
        return self._client._send(call)

    def generate(
        self,
        *,
        workspace_id: str | None = None,
        data: Mapping[str, float] | None = None,
        data_type: str = "deals",
    ) -> InsightReport:
        """Insights from `data` (the document's figures), or computed from a workspace's deals."""
        return self._client._send(_generate(workspace_id, data, data_type))


class Analytics(_Part):
    def pipeline(self, workspace_id: str) -> dict[str, Any]:
        return self._client._send(_analytics(workspace_id, "pipeline"))

    def conversion(self, workspace_id: str) -> dict[str, Any]:
        return self._client._send(_analytics(workspace_id, "conversion"))

    def forecast(self, workspace_id: str, *, periods: int | None = None) -> dict[str, Any]:
        return self._client._send(_analytics(workspace_id, "forecast", compact(periods=periods)))


class CrmWebhooks(_Part):
    def create(
        self,
        workspace_id: str,
        url: str,
        events: Sequence[str],
        secret: str,
        *,
        idempotency_key: str | None = None,
    ) -> Webhook:
        body = {"url": url, "events": list(events), "secret": secret}
        call = Call("POST", f"{_ws(workspace_id)}/webhooks", parse_model(Webhook), json=body)
        return self._client._send(call, idempotency_key)

    def list(self, workspace_id: str) -> builtins.list[Webhook]:
        return self._client._send(Call("GET", f"{_ws(workspace_id)}/webhooks", parse_list(Webhook)))

    def delete(self, workspace_id: str, webhook_id: str) -> None:
        self._client._send(Call("DELETE", f"{_ws(workspace_id)}/webhooks/{webhook_id}", parse_nothing))


class CRMClient(SyncClient):
    """spec 002, synchronous."""

    @cached_property
    def users(self) -> Users:
        return Users(self)

    @cached_property
    def workspaces(self) -> Workspaces:
        return Workspaces(self)

    @cached_property
    def deals(self) -> Deals:
        return Deals(self)

    @cached_property
    def integrations(self) -> Integrations:
        return Integrations(self)

    @cached_property
    def insights(self) -> Insights:
        return Insights(self)

    @cached_property
    def analytics(self) -> Analytics:
        return Analytics(self)

    @cached_property
    def webhooks(self) -> CrmWebhooks:
        return CrmWebhooks(self)

    @cached_property
    def tasks(self) -> Tasks:
        """Integration syncs are tasks: `client.tasks.wait(sync.task_id)`."""
        return Tasks(self)

    def info(self) -> ApiInfo:
        return self._send(_INFO)

    def health(self) -> CrmHealth:
        return self._send(_HEALTH)

    def chat(self, message: str, *, workspace_id: str | None = None, user_id: str | None = None) -> CrmChat:
        """The sales assistant; with `workspace_id` the answer is grounded in that workspace's deals."""
        return self._send(_chat(message, workspace_id, user_id))

    def events(self, *, timeout: float = 10.0) -> WebSocketStream[CrmEvent]:
        """The `/ws` stream of the caller's workspaces; returns once the server said it is connected."""
        stream = self._transport.websocket("/ws", _crm_event, open_timeout=timeout)
        try:
            stream.wait_for(_is_connected, timeout)
        except BaseException:
            stream.close()
            raise
        return stream


# --- async client ---------------------------------------------------------------------------------


class _AsyncPart:
    def __init__(self, client: AsyncCRMClient) -> None:
        self._client = client


class AsyncUsers(_AsyncPart):
    async def create(
        self,
        email: str,
        username: str,
        password: str,
        *,
        name: str | None = None,
        roles: Sequence[str] | None = None,
        idempotency_key: str | None = None,
    ) -> CrmUser:
        return await self._client._send(_create_user(email, username, password, name, roles), idempotency_key)

    async def get(self, user_id: str) -> CrmUser:
        return await self._client._send(Call("GET", f"/api/v1/users/{user_id}", parse_model(CrmUser)))

    async def update(
        self,
        user_id: str,
        *,
        name: str | None = None,
        email: str | None = None,
        password: str | None = None,
        roles: Sequence[str] | None = None,
        is_active: bool | None = None,
    ) -> CrmUser:
        body = _body(
            name=name, email=email, password=password, roles=roles and list(roles), is_active=is_active
        )
        return await self._client._send(_update_user(user_id, body))


class AsyncWorkspaces(_AsyncPart):
    async def create(
        self, name: str, *, currency: str | None = None, idempotency_key: str | None = None
    ) -> Workspace:
        call = Call(
            "POST", "/api/v1/workspaces", parse_model(Workspace), json=_body(name=name, currency=currency)
        )
        return await self._client._send(call, idempotency_key)

    async def get(self, workspace_id: str) -> Workspace:
        return await self._client._send(Call("GET", _ws(workspace_id), parse_model(Workspace)))

    async def members(self, workspace_id: str) -> MemberList:
        return await self._client._send(Call("GET", f"{_ws(workspace_id)}/members", parse_model(MemberList)))

    async def add_member(
        self,
        workspace_id: str,
        *,
        user_id: str | None = None,
        email: str | None = None,
        role: str | None = None,
    ) -> Member:
        body = _body(user_id=user_id, email=email, role=role)
        call = Call("POST", f"{_ws(workspace_id)}/members", parse_model(Member), json=body)
        return await self._client._send(call)


class AsyncDeals(_AsyncPart):
    async def list(
        self,
        workspace_id: str,
        *,
        stage: str | None = None,
        assigned_to: str | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> DealList:
        return await self._client._send(_list_deals(workspace_id, stage, assigned_to, limit, offset))

    async def create(
        self,
        workspace_id: str,
        title: str,
        *,
        value: float | Decimal | None = None,
        currency: str | None = None,
        stage: str | None = None,
        probability: int | None = None,
        owner_id: str | None = None,
        company: str | None = None,
        contact_email: str | None = None,
        expected_close_date: date | str | None = None,
        notes: str | None = None,
        idempotency_key: str | None = None,
    ) -> Deal:
        fields = _deal_fields(
            value, currency, stage, probability, owner_id, company, contact_email, expected_close_date, notes
        )
        call = Call("POST", f"{_ws(workspace_id)}/deals", parse_model(Deal), json={"title": title, **fields})
        return await self._client._send(call, idempotency_key)

    async def get(self, deal_id: str) -> Deal:
        return await self._client._send(Call("GET", f"/api/v1/deals/{deal_id}", parse_model(Deal)))

    async def update(
        self,
        deal_id: str,
        *,
        title: str | None = None,
        value: float | Decimal | None = None,
        currency: str | None = None,
        stage: str | None = None,
        probability: int | None = None,
        owner_id: str | None = None,
        company: str | None = None,
        contact_email: str | None = None,
        expected_close_date: date | str | None = None,
        notes: str | None = None,
    ) -> Deal:
        body = _body(title=title) | _deal_fields(
            value, currency, stage, probability, owner_id, company, contact_email, expected_close_date, notes
        )
        return await self._client._send(
            Call("PATCH", f"/api/v1/deals/{deal_id}", parse_model(Deal), json=body)
        )

    async def delete(self, deal_id: str) -> None:
        await self._client._send(Call("DELETE", f"/api/v1/deals/{deal_id}", parse_nothing))


class AsyncIntegrations(_AsyncPart):
    async def list(self, workspace_id: str) -> IntegrationList:
        call = Call("GET", f"{_ws(workspace_id)}/integrations", parse_model(IntegrationList))
        return await self._client._send(call)

    async def create(
        self,
        workspace_id: str,
        type: str,
        name: str,
        config: Mapping[str, Any] | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> Integration:
        body = {"type": type, "name": name, "config": dict(config or {})}
        call = Call("POST", f"{_ws(workspace_id)}/integrations", parse_model(Integration), json=body)
        return await self._client._send(call, idempotency_key)

    async def delete(self, integration_id: str) -> None:
        await self._client._send(Call("DELETE", f"/api/v1/integrations/{integration_id}", parse_nothing))

    async def sync(
        self, integration_id: str, *, file: Upload | None = None, filename: str = "upload"
    ) -> SyncAccepted:
        return await self._client._send(_sync(integration_id, file, filename))


class AsyncInsights(_AsyncPart):
    async def list(
        self,
        workspace_id: str,
        *,
        type: str | None = None,
        priority: str | None = None,
        status: str | None = None,
        limit: int | None = None,
    ) -> InsightList:
        return await self._client._send(_list_insights(workspace_id, type, priority, status, limit))

    async def update(self, insight_id: str, status: str) -> Insight:
        call = Call("PATCH", f"/api/v1/insights/{insight_id}", parse_model(Insight), json={"status": status})
        return await self._client._send(call)

    async def generate(
        self,
        *,
        workspace_id: str | None = None,
        data: Mapping[str, float] | None = None,
        data_type: str = "deals",
    ) -> InsightReport:
        return await self._client._send(_generate(workspace_id, data, data_type))


class AsyncAnalytics(_AsyncPart):
    async def pipeline(self, workspace_id: str) -> dict[str, Any]:
        return await self._client._send(_analytics(workspace_id, "pipeline"))

    async def conversion(self, workspace_id: str) -> dict[str, Any]:
        return await self._client._send(_analytics(workspace_id, "conversion"))

    async def forecast(self, workspace_id: str, *, periods: int | None = None) -> dict[str, Any]:
        return await self._client._send(_analytics(workspace_id, "forecast", compact(periods=periods)))


class AsyncCrmWebhooks(_AsyncPart):
    async def create(
        self,
        workspace_id: str,
        url: str,
        events: Sequence[str],
        secret: str,
        *,
        idempotency_key: str | None = None,
    ) -> Webhook:
        body = {"url": url, "events": list(events), "secret": secret}
        call = Call("POST", f"{_ws(workspace_id)}/webhooks", parse_model(Webhook), json=body)
        return await self._client._send(call, idempotency_key)

    async def list(self, workspace_id: str) -> builtins.list[Webhook]:
        return await self._client._send(Call("GET", f"{_ws(workspace_id)}/webhooks", parse_list(Webhook)))

    async def delete(self, workspace_id: str, webhook_id: str) -> None:
        await self._client._send(Call("DELETE", f"{_ws(workspace_id)}/webhooks/{webhook_id}", parse_nothing))


class AsyncCRMClient(AsyncClient):
    """spec 002, asynchronous."""

    @cached_property
    def users(self) -> AsyncUsers:
        return AsyncUsers(self)

    @cached_property
    def workspaces(self) -> AsyncWorkspaces:
        return AsyncWorkspaces(self)

    @cached_property
    def deals(self) -> AsyncDeals:
        return AsyncDeals(self)

    @cached_property
    def integrations(self) -> AsyncIntegrations:
        return AsyncIntegrations(self)

    @cached_property
    def insights(self) -> AsyncInsights:
        return AsyncInsights(self)

    @cached_property
    def analytics(self) -> AsyncAnalytics:
        return AsyncAnalytics(self)

    @cached_property
    def webhooks(self) -> AsyncCrmWebhooks:
        return AsyncCrmWebhooks(self)

    @cached_property
    def tasks(self) -> AsyncTasks:
        return AsyncTasks(self)

    async def info(self) -> ApiInfo:
        return await self._send(_INFO)

    async def health(self) -> CrmHealth:
        return await self._send(_HEALTH)

    async def chat(
        self, message: str, *, workspace_id: str | None = None, user_id: str | None = None
    ) -> CrmChat:
        return await self._send(_chat(message, workspace_id, user_id))

    async def events(self, *, timeout: float = 10.0) -> AsyncWebSocketStream[CrmEvent]:
        stream = await self._transport.websocket("/ws", _crm_event, open_timeout=timeout)
        try:
            await stream.wait_for(_is_connected, timeout)
        except BaseException:
            await stream.aclose()
            raise
        return stream
